// What a rollback puts back: the images and the Secret values captured at switch time, and the patches that
// restore them. A restore never removes `.dockerconfigjson` and never leaves a container without an image.
import type { ContainerImage, PodTemplateImages } from "./images";

export interface RollbackState {
  deployment: { namespace: string; name: string; containers: ContainerImage[]; initContainers: ContainerImage[] };
  /** Previous base64 values of the keys the switch writes; null: the key did not exist before the switch. */
  secret: { namespace: string; name: string; data: Record<string, string | null> };
}

export const DECKHOUSE_NAMESPACE = "d8-system";
export const DECKHOUSE_DEPLOYMENT = "deckhouse";
export const REGISTRY_SECRET = "deckhouse-registry";

/** The images a rollback puts back. */
export function captureImages(images: PodTemplateImages): RollbackState["deployment"] {
  return {
    namespace: DECKHOUSE_NAMESPACE,
    name: DECKHOUSE_DEPLOYMENT,
    containers: images.containers.map((c) => ({ name: c.name, image: c.image })),
    initContainers: images.initContainers.map((c) => ({ name: c.name, image: c.image })),
  };
}

/** The Secret values the switch is about to overwrite (base64, as stored); null for keys it adds. */
export function captureSecret(secretData: Record<string, string | undefined>, writtenKeys: Iterable<string>): RollbackState["secret"] {
  const data: Record<string, string | null> = {};
  for (const key of writtenKeys) data[key] = typeof secretData[key] === "string" ? (secretData[key] as string) : null;
  return { namespace: DECKHOUSE_NAMESPACE, name: REGISTRY_SECRET, data };
}

/** A JSON merge patch for the Secret: previous values back, keys the switch added removed (never `.dockerconfigjson`). */
export function secretRestorePatch(state: RollbackState): { data: Record<string, string | null> } {
  const data: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(state.secret.data)) {
    if (value === null && key === ".dockerconfigjson") continue;
    data[key] = value;
  }
  return { data };
}

interface LiveContainer {
  name: string;
  image?: string;
  [field: string]: unknown;
}

export interface LiveDeployment {
  metadata: { resourceVersion?: string };
  spec: { template: { spec: { containers: LiveContainer[]; initContainers?: LiveContainer[] } } };
}

function restoreList(live: LiveContainer[] | undefined, previous: ContainerImage[]): { list: LiveContainer[] | undefined; changed: boolean } {
  if (!live) return { list: undefined, changed: false };
  const before = new Map(previous.filter((c) => c.image).map((c) => [c.name, c.image]));
  let changed = false;
  const list = live.map((container) => {
    const image = before.get(container.name);
    if (!image || image === container.image) return container;
    changed = true;
    return { ...container, image };
  });
  return { list, changed };
}

/**
 * A JSON merge patch that puts the captured images back into the live Deployment. Merge patches replace whole
 * lists, so the live containers are sent complete with only `image` changed, guarded by resourceVersion so a
 * concurrent change makes the server refuse (409) instead of being overwritten. Undefined: nothing to restore.
 */
export function deploymentRestorePatch(state: RollbackState, live: LiveDeployment): unknown | undefined {
  const podSpec = live.spec.template.spec;
  const containers = restoreList(podSpec.containers, state.deployment.containers);
  const initContainers = restoreList(podSpec.initContainers, state.deployment.initContainers);
  if (!containers.changed && !initContainers.changed) return undefined;
  const spec: Record<string, unknown> = {};
  if (containers.changed) spec.containers = containers.list;
  if (initContainers.changed) spec.initContainers = initContainers.list;
  return { metadata: { resourceVersion: live.metadata.resourceVersion }, spec: { template: { spec } } };
}
