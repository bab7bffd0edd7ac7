// What the copy stage reads from the cluster before it declares anything: the `deckhouse` Deployment (its image,
// its version annotation, the proxy variables of its container) and the `deckhouse-registry` Secret (the source's
// address, scheme, CA and credentials). Read through the API directly, not as Pulumi `.get()` resources: nothing of
// either object is stored in the state, where the Deployment's env (proxy passwords) would sit in plain.
import type { V1EnvVar } from "@kubernetes/client-node";
import { apiPath, type KubeClient } from "../kube";
import { isProxyVariable } from "../copier-job/proxy-env";
import { NAMESPACE } from "./manifests";
import { ClusterStateError, deckhouseContainerOf, deckhouseImageOf, sourceRepoConfig, type RepoConfigJson } from "./registry-credentials";
import { VERSION_ANNOTATION } from "./release-check";

export interface CopySourceView {
  /** The deckhouse container's image, exactly as in the Deployment. */
  deckhouseImage: string;
  /** The Deployment's `core.deckhouse.io/version` annotation, when it has one. */
  versionAnnotation?: string;
  /** HTTP_PROXY / HTTPS_PROXY / NO_PROXY of the deckhouse container (values may hold credentials). */
  proxyEnv: V1EnvVar[];
  /** d8-repo.json: the source repository's access from the `deckhouse-registry` Secret (holds credentials). */
  sourceRepo: RepoConfigJson;
}

interface DeploymentLike {
  metadata?: { annotations?: Record<string, string> };
  spec?: { template?: { spec?: { containers?: Array<{ name?: string; image?: string; env?: V1EnvVar[] }> } } };
}

/** The deckhouse container's proxy variables, as they are: a literal value or a reference. */
function deckhouseProxyEnv(spec: DeploymentLike["spec"]): V1EnvVar[] {
  return (deckhouseContainerOf(spec)?.env ?? []).filter((e) => isProxyVariable(e.name)).map((e) => ({ ...e }));
}

export async function readCopySource(kube: KubeClient): Promise<CopySourceView> {
  const deployment = await kube.get<DeploymentLike>(apiPath({ apiVersion: "apps/v1", resource: "deployments", namespace: NAMESPACE, name: "deckhouse" }));
  if (!deployment) throw new ClusterStateError(`${NAMESPACE}/deckhouse: no such Deployment (is Deckhouse installed in this cluster?)`);
  const secret = await kube.get<{ data?: Record<string, string> }>(apiPath({ apiVersion: "v1", resource: "secrets", namespace: NAMESPACE, name: "deckhouse-registry" }));
  if (!secret) throw new ClusterStateError(`${NAMESPACE}/deckhouse-registry: no such Secret`);
  const deckhouseImage = deckhouseImageOf(deployment);
  return {
    deckhouseImage,
    versionAnnotation: deployment.metadata?.annotations?.[VERSION_ANNOTATION],
    proxyEnv: deckhouseProxyEnv(deployment.spec),
    sourceRepo: sourceRepoConfig(secret.data, deckhouseImage),
  };
}
