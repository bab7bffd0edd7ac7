// What the legacy switch writes to Deckhouse's objects, in one place: the stage declares its SecretPatch and
// DeploymentPatch from these bodies.
import { dockerConfigJson, encodeBase64 } from "../kube";
import type { SwitchStageConfig } from "../../stack-config";
import type { SwitchPlan } from "./plan";
import { DECKHOUSE_DEPLOYMENT, DECKHOUSE_NAMESPACE, REGISTRY_SECRET } from "./rollback";

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
