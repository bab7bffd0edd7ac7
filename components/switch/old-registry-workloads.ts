// After the rollout: every pod with an image (container, init or ephemeral container) under the old repository,
// grouped by what owns it (a Deployment through its ReplicaSet, a DaemonSet, a StatefulSet, a Job, or the bare pod),
// with istio sidecars called out (the seed: "restart application pods with istio sidecars"), and, when the stack
// asks (`restartOldRegistryWorkloads: istio|all`), their owners restarted the way `kubectl rollout restart` does: a
// merge patch of the pod template's `kubectl.kubernetes.io/restartedAt` annotation (the one pod-template change
// Deckhouse's admission policy lets users make to its objects). Deckhouse's own workloads (label
// `heritage: deckhouse`, or a `d8-*` namespace) are never restarted: Deckhouse rolls them itself once its registry
// changed. Runs inside a dynamic provider: no module-level zod, plain data only.
import { apiPath, type KubeClient } from "../kube";
import { inRepository } from "./rollout";

export type RestartMode = "none" | "istio" | "all";
export const RESTART_MODES: readonly RestartMode[] = ["none", "istio", "all"];
export const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";
export const ISTIO_STATUS = "sidecar.istio.io/status";
export const ISTIO_PROXY = "istio-proxy";

interface Owner {
  apiVersion?: string;
  kind?: string;
  name?: string;
  controller?: boolean;
}
interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Owner[];
}
type Containers = Array<{ name?: string; image?: string }>;
export interface WorkloadPod {
  metadata?: Meta;
  spec?: { containers?: Containers; initContainers?: Containers; ephemeralContainers?: Containers };
}

export interface OldRegistryWorkload {
  /** Deployment, DaemonSet, StatefulSet, Job, ReplicaSet (without a Deployment), Pod (bare), or another controller's kind. */
  kind: string;
  namespace: string;
  name: string;
  pods: string[];
  /** The old-registry images its pods run. */
  images: string[];
  /** Its pods carry an istio sidecar (an `istio-proxy` container or the `sidecar.istio.io/status` annotation). */
  istioSidecar: boolean;
  /** Deckhouse's own (heritage: deckhouse, or a d8-* namespace): never restarted by the switch. */
  deckhouse: boolean;
  /** What the switch did about it: `restarted at <time>`, or why not. Absent when restarts were not asked for. */
  restart?: string;
}

const RESTARTABLE = ["Deployment", "DaemonSet", "StatefulSet"];
const RESOURCE: Record<string, { apiVersion: string; resource: string }> = {
  Deployment: { apiVersion: "apps/v1", resource: "deployments" },
  DaemonSet: { apiVersion: "apps/v1", resource: "daemonsets" },
  StatefulSet: { apiVersion: "apps/v1", resource: "statefulsets" },
  ReplicaSet: { apiVersion: "apps/v1", resource: "replicasets" },
  Job: { apiVersion: "batch/v1", resource: "jobs" },
};

function oldImages(pod: WorkloadPod, oldPrefix: string): string[] {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])];
  const images = all.map((c) => c.image).filter((image): image is string => typeof image === "string" && inRepository(image, oldPrefix));
  return [...new Set(images)];
}

function hasIstioSidecar(pod: WorkloadPod): boolean {
  if (pod.metadata?.annotations?.[ISTIO_STATUS] !== undefined) return true;
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => c.name === ISTIO_PROXY);
}

const controllerOf = (meta: Meta | undefined): Owner | undefined => (meta?.ownerReferences ?? []).find((o) => o.controller) ?? meta?.ownerReferences?.[0];

/** What owns the pod, as a restartable thing: a ReplicaSet's Deployment is looked up; objects read are cached. */
async function ownerOf(kube: KubeClient, pod: WorkloadPod, cache: Map<string, Meta | undefined>): Promise<{ kind: string; name: string; meta?: Meta }> {
  const namespace = pod.metadata?.namespace ?? "";
  const read = async (kind: string, name: string): Promise<Meta | undefined> => {
    const key = `${kind}/${namespace}/${name}`;
    if (!cache.has(key)) {
      const where = RESOURCE[kind];
      // unreadable (RBAC, gone): grouped by what the pod says, never a failure of the switch
      const object = where ? await kube.get<{ metadata?: Meta }>(apiPath({ ...where, namespace, name })).catch(() => undefined) : undefined;
      cache.set(key, object?.metadata);
    }
    return cache.get(key);
  };
  const owner = controllerOf(pod.metadata);
  if (!owner?.kind || !owner.name) return { kind: "Pod", name: pod.metadata?.name ?? "", meta: pod.metadata };
  if (owner.kind === "ReplicaSet") {
    const replicaSet = await read("ReplicaSet", owner.name);
    const deployment = controllerOf(replicaSet);
    if (deployment?.kind === "Deployment" && deployment.name) return { kind: "Deployment", name: deployment.name, meta: await read("Deployment", deployment.name) };
    return { kind: "ReplicaSet", name: owner.name, meta: replicaSet };
  }
  return { kind: owner.kind, name: owner.name, meta: await read(owner.kind, owner.name) };
}

/** The pods under the old repository, grouped by owner, sorted by namespace, kind and name. */
export async function groupOldRegistryPods(kube: KubeClient, pods: WorkloadPod[], oldPrefix: string): Promise<OldRegistryWorkload[]> {
  const groups = new Map<string, OldRegistryWorkload>();
  const cache = new Map<string, Meta | undefined>();
  for (const pod of pods) {
    const images = oldImages(pod, oldPrefix);
    if (images.length === 0) continue;
    const namespace = pod.metadata?.namespace ?? "";
    const owner = await ownerOf(kube, pod, cache);
    const key = `${namespace}/${owner.kind}/${owner.name}`;
    const deckhouse = namespace.startsWith("d8-") || owner.meta?.labels?.heritage === "deckhouse" || pod.metadata?.labels?.heritage === "deckhouse";
    const group = groups.get(key) ?? { kind: owner.kind, namespace, name: owner.name, pods: [], images: [], istioSidecar: false, deckhouse: false };
    group.pods.push(pod.metadata?.name ?? "");
    group.images = [...new Set([...group.images, ...images])].sort();
    group.istioSidecar ||= hasIstioSidecar(pod);
    group.deckhouse ||= deckhouse;
    groups.set(key, group);
  }
  return [...groups.values()]
    .map((g) => ({ ...g, pods: g.pods.sort() }))
    .sort((a, b) => `${a.namespace}/${a.kind}/${a.name}`.localeCompare(`${b.namespace}/${b.kind}/${b.name}`));
}

/** Why a workload the mode selects cannot be restarted by the switch; undefined when it can. */
function notRestartable(w: OldRegistryWorkload): string | undefined {
  if (w.deckhouse) return "not restarted: Deckhouse's own (it rolls its workloads to the new registry itself)";
  if (RESTARTABLE.includes(w.kind)) return undefined;
  if (w.kind === "Pod") return "not restarted: a bare pod (nothing would recreate it): recreate it yourself";
  if (w.kind === "Job") return "not restarted: a Job's pods are not restarted (run it again, or wait for its next schedule)";
  if (w.kind === "Node") return "not restarted: a static pod (the node's kubelet runs it from a manifest)";
  return `not restarted: a ${w.kind} is restarted by its own controller`;
}

const selected = (w: OldRegistryWorkload, mode: RestartMode) => mode === "all" || (mode === "istio" && w.istioSidecar);

/**
 * Restarts the owners the mode selects (never Deckhouse's own) through the pod template's restartedAt annotation,
 * and says on each selected workload what was done. A refused patch is reported on the workload, not thrown: the
 * switch itself is done by then.
 */
export async function restartOldRegistryWorkloads(kube: KubeClient, workloads: OldRegistryWorkload[], mode: RestartMode, now = new Date()): Promise<OldRegistryWorkload[]> {
  if (mode === "none") return workloads;
  const at = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  const result: OldRegistryWorkload[] = [];
  for (const w of workloads) {
    if (!selected(w, mode)) {
      result.push(w);
      continue;
    }
    const why = notRestartable(w);
    if (why) {
      result.push({ ...w, restart: why });
      continue;
    }
    const path = apiPath({ ...RESOURCE[w.kind], namespace: w.namespace, name: w.name });
    try {
      await kube.patch(path, { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } });
      result.push({ ...w, restart: `restarted at ${at}` });
    } catch (err) {
      result.push({ ...w, restart: `restart refused: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  return result;
}

/** One line per workload, for the update's output. */
export function describeOldRegistryWorkload(w: OldRegistryWorkload): string {
  const marks = [w.istioSidecar ? "istio sidecar" : "", w.deckhouse ? "Deckhouse's own" : ""].filter(Boolean);
  const pods = `${w.pods.length} pod${w.pods.length === 1 ? "" : "s"}`;
  return `images-copier: on the old registry: ${w.kind} ${w.namespace}/${w.name} (${pods}${marks.length > 0 ? `, ${marks.join(", ")}` : ""}): ${w.images.join(", ")}${w.restart ? `; ${w.restart}` : ""}`;
}

/** The preview's words for the restart setting. */
export function describeRestartMode(mode: RestartMode, oldRegistry: string): string {
  const what =
    mode === "none"
      ? "none are restarted (restartOldRegistryWorkloads: none; set istio or all to restart them)"
      : mode === "istio"
        ? "those with istio sidecars are restarted (restartOldRegistryWorkloads: istio)"
        : "all of them are restarted (restartOldRegistryWorkloads: all)";
  return `images-copier: after the rollout, pods still on ${oldRegistry} are listed by owner (output oldRegistryWorkloads); ${what}, through the pod template's ${RESTARTED_AT}, never Deckhouse's own workloads`;
}
