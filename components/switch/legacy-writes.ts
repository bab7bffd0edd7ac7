// What the legacy switch writes to Deckhouse's objects, in one place: the stage declares its SecretPatch and
// DeploymentPatch from these bodies, and the gate proves the same writes first (../kube/write-proof.ts): the same
// Server-Side Apply patches (field manager, force) and the release-channel change, sent as server-side dry runs.
import { apiPath, dockerConfigJson, encodeBase64, type KubeClient } from "../kube";
import type { ProposedWrite } from "../kube/write-proof";
import type { SwitchStageConfig } from "../../stack-config";
import type { SwitchPlan } from "./plan";
import { DECKHOUSE_DEPLOYMENT, DECKHOUSE_NAMESPACE, REGISTRY_SECRET } from "./rollback";
import { CONFIG_MAP_PATH, MODULE_CONFIG_PATH, yamlWithChannel } from "./updates";

/** Field manager of the switch's Server-Side Apply patches (visible in the objects' managedFields). */
export const SWITCH_FIELD_MANAGER = "images-copier-switch";

export const PATCH_ANNOTATIONS = {
  "pulumi.com/patchForce": "true",
  "pulumi.com/patchFieldManager": SWITCH_FIELD_MANAGER,
};

/** The SecretPatch of `deckhouse-registry` (its `data` holds the target's credentials: a secret wherever it goes). */
export function registrySecretPatch(plan: SwitchPlan, config: Pick<SwitchStageConfig, "targetUsername" | "targetPassword">) {
  const data: Record<string, string> = { ".dockerconfigjson": encodeBase64(dockerConfigJson(plan.targetRegistry, config.targetUsername, config.targetPassword)) };
  for (const [key, value] of Object.entries(plan.secretValues)) data[key] = encodeBase64(value);
  return { metadata: { name: REGISTRY_SECRET, namespace: DECKHOUSE_NAMESPACE, annotations: { ...PATCH_ANNOTATIONS } }, data };
}

/** The DeploymentPatch of `deckhouse`: the images of the containers (and init containers) the switch re-points. */
export function deckhouseDeploymentPatch(plan: SwitchPlan) {
  const pick = (kind: string) => plan.imageChanges.filter((c) => c.kind === kind).map((c) => ({ name: c.name, image: c.to }));
  const initContainers = pick("initContainer");
  return {
    metadata: { name: DECKHOUSE_DEPLOYMENT, namespace: DECKHOUSE_NAMESPACE, annotations: { ...PATCH_ANNOTATIONS, "pulumi.com/skipAwait": "true" } },
    spec: { template: { spec: { ...(initContainers.length > 0 ? { initContainers } : {}), containers: pick("container") } } },
  };
}

/** An apply patch as the Kubernetes provider sends a Patch resource: the object, our field manager, forced. */
const APPLY = { contentType: "application/apply-patch+yaml", query: { fieldManager: SWITCH_FIELD_MANAGER, force: "true" } };

/** The release-channel change (`updates: disable`), the first write of either path. */
export async function releaseChannelWrites(kube: KubeClient, plan: SwitchPlan): Promise<ProposedWrite[]> {
  const writes: ProposedWrite[] = [];
  if (plan.updates.mode === "disable" && plan.updates.channel) {
    if (plan.updates.home === "ModuleConfig") {
      writes.push({ object: "ModuleConfig deckhouse", verb: "patch", path: MODULE_CONFIG_PATH, body: { spec: { settings: { releaseChannel: null } } } });
    } else if (plan.updates.home === "ConfigMap") {
      const live = await kube.get<{ data?: Record<string, string>; metadata?: { resourceVersion?: string } }>(CONFIG_MAP_PATH);
      if (live) {
        const body = { metadata: { resourceVersion: live.metadata?.resourceVersion }, data: { deckhouse: yamlWithChannel(live.data?.deckhouse, undefined) } };
        writes.push({ object: "ConfigMap d8-system/deckhouse", verb: "patch", path: CONFIG_MAP_PATH, body });
      }
    }
  }
  return writes;
}

/** Every write the legacy switch makes to existing objects, in its order: release channel, Secret, Deployment. */
export async function legacyWrites(kube: KubeClient, plan: SwitchPlan, config: Pick<SwitchStageConfig, "targetUsername" | "targetPassword">): Promise<ProposedWrite[]> {
  const writes = await releaseChannelWrites(kube, plan);
  writes.push({
    object: `Secret ${DECKHOUSE_NAMESPACE}/${REGISTRY_SECRET}`,
    verb: "patch",
    path: apiPath({ apiVersion: "v1", resource: "secrets", namespace: DECKHOUSE_NAMESPACE, name: REGISTRY_SECRET }),
    body: { apiVersion: "v1", kind: "Secret", ...registrySecretPatch(plan, config) },
    ...APPLY,
  });
  writes.push({
    object: `Deployment ${DECKHOUSE_NAMESPACE}/${DECKHOUSE_DEPLOYMENT}`,
    verb: "patch",
    path: apiPath({ apiVersion: "apps/v1", resource: "deployments", namespace: DECKHOUSE_NAMESPACE, name: DECKHOUSE_DEPLOYMENT }),
    body: { apiVersion: "apps/v1", kind: "Deployment", ...deckhouseDeploymentPatch(plan) },
    ...APPLY,
  });
  return writes;
}
