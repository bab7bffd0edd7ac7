// What the copy stage reads from the cluster before it declares anything: the `deckhouse` Deployment (its image,
// its version annotation, the proxy variables of its container) and where the vendor's registry is kept: the
// `deckhouse-registry` Secret (address, scheme, CA, credentials) in the legacy mode, the mode's section of ModuleConfig
// `deckhouse` in a configurable registry mode (module-source.ts); Local and Managed are refused. Read through the API directly, not as Pulumi `.get()` resources: nothing of
// either object is stored in the state, where the Deployment's env (proxy passwords) would sit in plain.
import type { V1EnvVar } from "@kubernetes/client-node";
import { apiPath, type KubeClient } from "../kube";
import { isProxyVariable } from "../copier-job/proxy-env";
import { NAMESPACE } from "./manifests";
import { readRegistryPath } from "../registry-mode";
import { moduleRefusal, moduleSourceRepoConfig, type CopyRegistryPath } from "./module-source";
import { ClusterStateError, deckhouseContainerOf, deckhouseImageOf, sourceRepoConfig, type RepoConfigJson } from "./registry-credentials";
import { VERSION_ANNOTATION } from "./release-check";

export interface CopySourceView {
  /** The deckhouse container's image, exactly as in the Deployment (Direct/Proxy: the in-cluster address). */
  deckhouseImage: string;
  /** Where the source was read: the legacy `deckhouse-registry`, or the configurable registry mode's section. */
  registryPath: CopyRegistryPath;
  /** The mode's `imagesRepo` (configurable modes only). */
  imagesRepo?: string;
  /** The Deployment's `core.deckhouse.io/version` annotation, when it has one. */
  versionAnnotation?: string;
  /** HTTP_PROXY / HTTPS_PROXY / NO_PROXY of the deckhouse container (values may hold credentials). */
  proxyEnv: V1EnvVar[];
  /** d8-repo.json: the source repository's access and the image the copier copies (holds credentials). */
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

/** A registry the copy stack cannot copy from; its message is the whole line. */
export class RegistryPathRefusal extends Error {
  override name = "RegistryPathRefusal";
}

/** `configuredVersion`: the stack's deckhouseVersion, used only when the cluster does not say which release runs. */
export async function readCopySource(kube: KubeClient, opts: { configuredVersion?: string } = {}): Promise<CopySourceView> {
  const deployment = await kube.get<DeploymentLike>(apiPath({ apiVersion: "apps/v1", resource: "deployments", namespace: NAMESPACE, name: "deckhouse" }));
  if (!deployment) throw new ClusterStateError(`${NAMESPACE}/deckhouse: no such Deployment (is Deckhouse installed in this cluster?)`);
  const path = await readRegistryPath(kube, opts);
  const refusal = moduleRefusal(path);
  if (refusal) throw new RegistryPathRefusal(refusal);
  const deckhouseImage = deckhouseImageOf(deployment);
  const common = { deckhouseImage, versionAnnotation: deployment.metadata?.annotations?.[VERSION_ANNOTATION], proxyEnv: deckhouseProxyEnv(deployment.spec) };
  if (path.path === "module") {
    return { ...common, registryPath: path.mode, imagesRepo: path.section.imagesRepo, sourceRepo: moduleSourceRepoConfig(path.section, deckhouseImage) };
  }
  const secret = await kube.get<{ data?: Record<string, string> }>(apiPath({ apiVersion: "v1", resource: "secrets", namespace: NAMESPACE, name: "deckhouse-registry" }));
  if (!secret) throw new ClusterStateError(`${NAMESPACE}/deckhouse-registry: no such Secret`);
  return { ...common, registryPath: "legacy", sourceRepo: sourceRepoConfig(secret.data, deckhouseImage) };
}
