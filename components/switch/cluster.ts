// The switch stage's work against the Kubernetes API: waiting for the Deckhouse rollout, listing pods still on
// the old registry, and putting the captured values back on rollback.
import { apiPath, type KubeApiError, type KubeClient } from "../kube";
import { groupOldRegistryPods, type OldRegistryWorkload, type WorkloadPod } from "./old-registry-workloads";
import { deploymentRestorePatch, secretRestorePatch, type LiveDeployment, type RollbackState } from "./rollback";
import { copiedDigestState, templateDeckhouseImage, podsFailingToPull, podsOnOldRegistry, RESTARTABLE_PULL_FAILURES, rolloutState, type DeploymentLike, type OldRegistryPod, type PodLike } from "./rollout";

export interface RolloutWaitOptions {
  namespace: string;
  name: string;
  /** The image the `deckhouse` container must carry before the rollout counts. */
  expectedImage?: string;
  /** Also counts when its pods run `expectedDigest`: the release under the original tag, which Deckhouse renders itself. */
  alsoImage?: string;
  expectedDigest?: string;
  timeoutMs: number;
  pollMs?: number;
  /** Pods stuck pulling that may be deleted (each at most once) so their ReplicaSet recreates them; default 3. */
  maxRestarts?: number;
  log?: (line: string) => void;
}

/** Default bound on the stuck pods one wait deletes. */
export const DEFAULT_MAX_RESTARTS = 3;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type SelectedDeployment = DeploymentLike & { spec?: { selector?: { matchLabels?: Record<string, string> } } };

async function deploymentPods(kube: KubeClient, namespace: string, deployment: SelectedDeployment): Promise<PodLike[]> {
  const labels = deployment.spec?.selector?.matchLabels ?? {};
  const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
  if (!selector) return [];
  return (await kube.list<PodLike>(apiPath({ apiVersion: "v1", resource: "pods", namespace }), { labelSelector: selector })).items;
}

/**
 * Deletes the Deployment's pods stuck in ImagePullBackOff/ErrImagePull that were not deleted before (by uid, else
 * name), within the remaining budget: their ReplicaSet creates fresh pods that pull again, e.g. once the Secret's
 * new credentials are there. Returns how many it deleted.
 */
async function restartStuckPods(kube: KubeClient, namespace: string, deployment: SelectedDeployment, restarted: string[], budget: number, log: (line: string) => void): Promise<number> {
  if (budget <= 0) return 0;
  let deleted = 0;
  // A failed list or delete never ends the wait: the restart is a help, the rollout state is what counts.
  for (const pod of await deploymentPods(kube, namespace, deployment).catch(() => [] as PodLike[])) {
    if (deleted >= budget) break;
    const name = pod.metadata?.name;
    const key = pod.metadata?.uid ?? name;
    if (!name || !key || restarted.includes(key)) continue;
    const stuck = podsFailingToPull([pod], RESTARTABLE_PULL_FAILURES);
    if (stuck.length === 0) continue;
    restarted.push(key);
    deleted++;
    try {
      await kube.delete(apiPath({ apiVersion: "v1", resource: "pods", namespace, name }));
    } catch (err) {
      log(`images-copier: could not restart pod ${namespace}/${name}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    log(`images-copier: restarted pod ${namespace}/${name} (${stuck.map((s) => s.slice(s.indexOf(": ") + 2)).join("; ")}) so it pulls again`);
  }
  return deleted;
}

/**
 * Polls the Deployment until its rollout is done. A pod stuck pulling is deleted once (at most `maxRestarts` in
 * all) and the wait goes on; rejects on a failed rollout or the timeout, naming the pods that still cannot pull.
 */
export async function waitForRollout(kube: KubeClient, opts: RolloutWaitOptions): Promise<{ restarts: number }> {
  const path = apiPath({ apiVersion: "apps/v1", resource: "deployments", namespace: opts.namespace, name: opts.name });
  const deadline = Date.now() + opts.timeoutMs;
  const log = opts.log ?? ((line: string) => console.log(line));
  const maxRestarts = opts.maxRestarts ?? DEFAULT_MAX_RESTARTS;
  const restarted: string[] = [];
  let reason = "not checked yet";
  let deployment: SelectedDeployment | undefined;
  while (Date.now() < deadline) {
    deployment = await kube.get(path);
    if (!deployment) throw new Error(`Deployment ${opts.namespace}/${opts.name} not found`);
    let state = rolloutState(deployment, opts.expectedImage, opts.expectedDigest ? opts.alsoImage : undefined);
    if (state.done && opts.alsoImage && opts.expectedDigest && templateDeckhouseImage(deployment) === opts.alsoImage) {
      state = copiedDigestState(await deploymentPods(kube, opts.namespace, deployment), opts.alsoImage, opts.expectedDigest);
    }
    if (state.done) return { restarts: restarted.length };
    reason = state.reason;
    if (state.failed) break;
    await restartStuckPods(kube, opts.namespace, deployment, restarted, maxRestarts - restarted.length, log);
    await sleep(Math.min(opts.pollMs ?? 2000, Math.max(deadline - Date.now(), 0)));
  }
  const stuck = deployment ? podsFailingToPull(await deploymentPods(kube, opts.namespace, deployment).catch(() => [])) : [];
  const pull = stuck.length > 0 ? `; pods that cannot pull: ${stuck.join(", ")} (delete such a pod to retry the pull)` : "";
  const restarts = restarted.length > 0 ? `; ${restarted.length} stuck pod(s) were restarted` : "";
  throw new Error(`Deployment ${opts.namespace}/${opts.name} did not become ready: ${reason}${pull}${restarts}`);
}

/** Every pod in the cluster with an image in the old registry repository. */
export async function listOldRegistryPods(kube: KubeClient, oldPrefix: string): Promise<OldRegistryPod[]> {
  const { items } = await kube.list<PodLike>("/api/v1/pods");
  return podsOnOldRegistry(items, oldPrefix);
}

/** The same pods, one list read: each pod, and grouped by owner (old-registry-workloads.ts). */
export async function listOldRegistryWorkloads(kube: KubeClient, oldPrefix: string): Promise<{ pods: OldRegistryPod[]; workloads: OldRegistryWorkload[] }> {
  const { items } = await kube.list<PodLike & WorkloadPod>("/api/v1/pods");
  return { pods: podsOnOldRegistry(items, oldPrefix), workloads: await groupOldRegistryPods(kube, items, oldPrefix) };
}

/** Annotations the switch's Patch resources put on both objects; a rollback removes them again. */
export const PATCH_ANNOTATIONS = ["pulumi.com/patchForce", "pulumi.com/patchFieldManager", "pulumi.com/skipAwait"] as const;

function withoutPatchAnnotations(): Record<string, null> {
  return Object.fromEntries(PATCH_ANNOTATIONS.map((a) => [a, null]));
}

/**
 * Puts the captured values back: the Secret first (so the old registry's credentials are in place before a pod
 * pulls from it), then the Deployment's images, then waits for that rollout. Objects that are gone are skipped.
 */
export async function restoreRollback(kube: KubeClient, state: RollbackState, opts: { timeoutMs: number; pollMs?: number }): Promise<{ secret: boolean; deployment: boolean }> {
  const secretPath = apiPath({ apiVersion: "v1", resource: "secrets", namespace: state.secret.namespace, name: state.secret.name });
  let secretRestored = false;
  if (await kube.get(secretPath)) {
    await kube.patch(secretPath, { metadata: { annotations: withoutPatchAnnotations() }, ...secretRestorePatch(state) });
    secretRestored = true;
  }
  const deploymentPath = apiPath({ apiVersion: "apps/v1", resource: "deployments", namespace: state.deployment.namespace, name: state.deployment.name });
  let patched = false;
  // The image patch is guarded by resourceVersion: on a conflict (409) read the Deployment again, a few times.
  for (let attempt = 1; ; attempt++) {
    const live = await kube.get<LiveDeployment>(deploymentPath);
    if (!live) return { secret: secretRestored, deployment: false };
    const patch = deploymentRestorePatch(state, live) as { metadata?: Record<string, unknown> } | undefined;
    const body = patch
      ? { ...patch, metadata: { ...patch.metadata, annotations: withoutPatchAnnotations() } }
      : { metadata: { annotations: withoutPatchAnnotations() } };
    try {
      await kube.patch(deploymentPath, body);
      patched = patch !== undefined;
      break;
    } catch (err) {
      // duck-typed: in a closure-serialized provider the error class may not be the one imported here
      if ((err as Partial<KubeApiError>).statusCode !== 409 || attempt >= 3) throw err;
    }
  }
  const previous = state.deployment.containers.find((c) => c.name === "deckhouse")?.image;
  if (patched) await waitForRollout(kube, { namespace: state.deployment.namespace, name: state.deployment.name, expectedImage: previous, timeoutMs: opts.timeoutMs, pollMs: opts.pollMs });
  return { secret: secretRestored, deployment: true };
}
