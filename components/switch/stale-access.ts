// `pulumi destroy` (and `pulumi refresh`) without `--run-program` configures every provider from the state: the
// dynamic providers get the stack config as of the last `pulumi up` (the engine stores it as their default
// provider's inputs; pulumi/pulumi pkg/resource/deploy/target.go GetPackageConfig, providers/registry.go), not
// the config of now. A token rotated or a kubeconfig moved since then is refused: say what to run instead.
import { isKubeStatus } from "../kube";

export function explainStaleAccess(error: unknown, what: string): unknown {
  if (!isKubeStatus(error, 401)) return error;
  return new Error(
    `images-copier: ${what}: the cluster refused the credentials of the last \`pulumi up\` (401 Unauthorized), which \`pulumi destroy\` uses; with a rotated token or a changed kubeconfig run \`pulumi destroy --run-program\` (or \`pulumi up\`, then \`pulumi destroy\`)`,
  );
}
