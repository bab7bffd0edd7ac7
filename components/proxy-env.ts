// The proxy settings of the running Deckhouse, for the copier Job. Deckhouse's modules get HTTP_PROXY,
// HTTPS_PROXY and NO_PROXY from the cluster's proxy settings (helm_lib_envs_for_proxy); where the deckhouse
// container has them, it reaches registries through that proxy, and so must the copier.
import type { V1EnvVar } from "@kubernetes/client-node";

const PROXY_NAMES = new Set(["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]);

interface DeploymentSpec {
  template?: { spec?: { containers?: Array<{ name?: string; env?: V1EnvVar[] }> } };
}

/** The deckhouse container's proxy variables (either case), as they are: a literal value or a reference. */
export function deckhouseProxyEnv(spec: DeploymentSpec | undefined): V1EnvVar[] {
  const containers = spec?.template?.spec?.containers ?? [];
  const deckhouse = containers.find((c) => c.name === "deckhouse") ?? containers[0];
  return (deckhouse?.env ?? []).filter((e) => PROXY_NAMES.has(e.name.toUpperCase())).map((e) => ({ ...e }));
}
