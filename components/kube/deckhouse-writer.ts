// The explicit Kubernetes provider for `@pulumi/kubernetes` resources that write Deckhouse's own objects
// (`heritage: deckhouse`): the stack's cluster, its user impersonating `kubeImpersonate`, as the project's own client
// does for such writes (client.ts). Undefined when impersonation is off: those resources use the default provider.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { KubeAccess } from "./access";
import { impersonatedKubeconfig } from "./impersonated-kubeconfig";

export function deckhouseWriterProvider(name: string, access: KubeAccess | undefined, parent: pulumi.Resource): k8s.Provider | undefined {
  if (!access?.impersonate) return undefined;
  // The kubeconfig holds the user's credentials: a secret, encrypted in the state and masked in the preview.
  return new k8s.Provider(name, { kubeconfig: pulumi.secret(impersonatedKubeconfig(access, access.impersonate)) }, { parent });
}
