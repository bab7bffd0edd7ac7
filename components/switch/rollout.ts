// Reading a Deployment's rollout state and the pods still running images from the old registry.
import { parseImageReference } from "../../copier";
import { digestOfImageID } from "./release";

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export interface DeploymentLike {
  metadata?: { generation?: number; name?: string };
  spec?: { replicas?: number; template?: { spec?: { containers?: Array<{ name?: string; image?: string }> } } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: Condition[];
  };
}

export interface PodLike {
  metadata?: { name?: string; namespace?: string; uid?: string };
  spec?: { containers?: Array<{ name?: string; image?: string }>; initContainers?: Array<{ name?: string; image?: string }>; ephemeralContainers?: Array<{ name?: string; image?: string }> };
  status?: {
    containerStatuses?: Array<{ name?: string; image?: string; imageID?: string; state?: { waiting?: { reason?: string; message?: string } } }>;
    initContainerStatuses?: Array<{ name?: string; image?: string; state?: { waiting?: { reason?: string; message?: string } } }>;
  };
}

export type RolloutState = { done: true } | { done: false; failed: boolean; reason: string };

/** The `deckhouse` container's image in the Deployment's pod template. */
export function templateDeckhouseImage(deployment: DeploymentLike): string | undefined {
  return deployment.spec?.template?.spec?.containers?.find((c) => c.name === "deckhouse")?.image;
}

/**
 * The rules `kubectl rollout status` uses, plus: the `deckhouse` container must already carry `expectedImage` (or
 * `alsoImage`: the same release under the original tag, which Deckhouse may render itself after a switch).
 */
export function rolloutState(deployment: DeploymentLike, expectedImage?: string, alsoImage?: string): RolloutState {
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  const wanted = deployment.spec?.replicas ?? 1;
  if (expectedImage) {
    const image = templateDeckhouseImage(deployment);
    if (image !== expectedImage && (!alsoImage || image !== alsoImage)) {
      return { done: false, failed: false, reason: `the deckhouse container runs "${image}", not yet "${expectedImage}"${alsoImage ? ` or "${alsoImage}"` : ""}` };
    }
  }
  const progressing = status.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return { done: false, failed: true, reason: `rollout exceeded its progress deadline: ${progressing.message ?? ""}`.trim() };
  }
  if ((status.observedGeneration ?? 0) < generation) return { done: false, failed: false, reason: "waiting for the deployment controller to observe the change" };
  const updated = status.updatedReplicas ?? 0;
  if (updated < wanted) return { done: false, failed: false, reason: `${updated} of ${wanted} replicas updated` };
  if ((status.replicas ?? 0) > updated) return { done: false, failed: false, reason: `${(status.replicas ?? 0) - updated} old replicas pending termination` };
  if ((status.availableReplicas ?? 0) < updated) return { done: false, failed: false, reason: `${status.availableReplicas ?? 0} of ${updated} updated replicas available` };
  return { done: true };
}

/**
 * Under the original tag the release counts only when the pods show the copied digest: every pod whose deckhouse
 * container is on `image` and reports an imageID runs `digest`, and at least one does. Another digest fails (that
 * tag holds something else: not the copied release).
 */
export function copiedDigestState(pods: PodLike[], image: string, digest: string): RolloutState {
  let matching = 0;
  for (const pod of pods) {
    if (pod.spec?.containers?.find((c) => c.name === "deckhouse")?.image !== image) continue;
    const imageID = pod.status?.containerStatuses?.find((s) => s.name === "deckhouse")?.imageID;
    const running = imageID ? digestOfImageID(imageID) : undefined;
    if (!running) continue;
    if (running !== digest) {
      return { done: false, failed: true, reason: `pod ${pod.metadata?.namespace}/${pod.metadata?.name} runs "${image}" as ${running}, not the copied ${digest}` };
    }
    matching++;
  }
  return matching > 0 ? { done: true } : { done: false, failed: false, reason: `no deckhouse pod on "${image}" reports its image digest yet (the copied one is ${digest})` };
}

// An array, not a Set: this code runs inside closure-serialized dynamic providers, which cannot carry a Set.
const PULL_FAILURES: readonly string[] = ["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"];

/** The pull failures a fresh pod may get past (new credentials arrived, registry back): worth a restart. */
export const RESTARTABLE_PULL_FAILURES: readonly string[] = ["ImagePullBackOff", "ErrImagePull"];

/** Pods that cannot pull their image, as `namespace/name: image (reason)`, for the message when a rollout is stuck. */
export function podsFailingToPull(pods: PodLike[], reasons: readonly string[] = PULL_FAILURES): string[] {
  const found: string[] = [];
  for (const pod of pods) {
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const s of statuses) {
      const reason = s.state?.waiting?.reason;
      if (reason && reasons.includes(reason)) found.push(`${pod.metadata?.namespace}/${pod.metadata?.name}: ${s.image ?? s.name} (${reason})`);
    }
  }
  return found;
}

export interface OldRegistryPod {
  namespace: string;
  name: string;
  images: string[];
}

/** The image is in the repository `prefix` (`host/path`) or below it. */
export function inRepository(image: string, prefix: string): boolean {
  let repo: string;
  try {
    const ref = parseImageReference(image);
    repo = `${ref.registry}/${ref.repository}`;
  } catch {
    return image.startsWith(prefix);
  }
  return repo === prefix || repo.startsWith(`${prefix}/`);
}

/** Pods with any container, init or ephemeral container image in the old registry repository (or below it). */
export function podsOnOldRegistry(pods: PodLike[], oldPrefix: string): OldRegistryPod[] {
  const result: OldRegistryPod[] = [];
  for (const pod of pods) {
    const images = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])]
      .map((c) => c.image)
      .filter((image): image is string => typeof image === "string" && inRepository(image, oldPrefix));
    if (images.length > 0) result.push({ namespace: pod.metadata?.namespace ?? "", name: pod.metadata?.name ?? "", images: [...new Set(images)] });
  }
  return result.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** What to do after the switch (stack output and README). */
export const FOLLOW_UP_STEPS: readonly string[] = [
  "Check bashible on the master nodes: its log must report `Configuration is in sync, nothing to do` (journalctl -u bashible); waitNodeGroups waited for the NodeGroups' checksums that say so (output nodeGroups).",
  "If the istio module is enabled, restart the application pods that carry istio sidecars so they pull from the new registry (oldRegistryWorkloads marks them istioSidecar; restartOldRegistryWorkloads: istio does it).",
  "Restart or recreate the workloads listed in oldRegistryWorkloads (restartOldRegistryWorkloads: all restarts those it can); none should be left on the old registry.",
  "Updates: with `updates: disable` the switch removed `releaseChannel` (see plan.releaseChannel); with `keep`, Deckhouse now looks for its release-channel image in the new registry: keep copying it (copyUpdateImages) for each new release.",
];
