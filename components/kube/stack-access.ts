// The program's own cluster access (both stages read the cluster before they declare anything): the Kubernetes
// provider's settings in the stack config, else KUBECONFIG / ~/.kube/config.
import * as pulumi from "@pulumi/pulumi";
import type { KubeAccess } from "./access";

export function kubeAccessFromStack(): KubeAccess {
  const config = new pulumi.Config("kubernetes");
  return { kubeconfig: config.get("kubeconfig") || undefined, context: config.get("context") || undefined };
}
