// The program's own cluster access (both stages read the cluster before they declare anything): the Kubernetes
// provider's settings in the stack config, else KUBECONFIG / ~/.kube/config.
import * as pulumi from "@pulumi/pulumi";
import { kubeImpersonateSetting, type KubeAccess } from "./access";

/** With `images-copier:kubeImpersonate` (default system:sudouser): the user Deckhouse's own objects are written as. */
export function kubeAccessFromStack(): KubeAccess {
  const config = new pulumi.Config("kubernetes");
  const impersonate = kubeImpersonateSetting(new pulumi.Config("images-copier").get("kubeImpersonate"));
  return { kubeconfig: config.get("kubeconfig") || undefined, context: config.get("context") || undefined, ...(impersonate ? { impersonate } : {}) };
}
