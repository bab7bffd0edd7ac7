// Deletion as a real API server and its garbage collector do it, for the Kubernetes API test server:
// - DELETE with propagationPolicy Foreground: the object stays, Terminating (deletionTimestamp, the
//   `foregroundDeletion` finalizer), until every dependent (an object whose ownerReferences name its uid) is gone;
//   Background: the object goes at once and its dependents after it; Orphan: the dependents stay. A batch/v1 Job
//   deleted without a policy orphans its pods (the REST default for Jobs); other kinds default to Background.
// - An object with other finalizers stays Terminating until a write removes them.
// - A Pod terminates gracefully: it keeps running for `podTerminationMs` (the kubelet's shutdown), then goes.
// - A DELETE of an object already Terminating may only drop the foreground finalizer (policy Background/Orphan).
import type { KubeObject } from "../kube-api-server";

export interface ObjectStore {
  all(): KubeObject[];
  put(object: KubeObject): KubeObject;
  /** Removes the object from the store (the DELETED event). */
  drop(object: KubeObject): void;
}

const FOREGROUND = "foregroundDeletion";

export type Propagation = "Foreground" | "Background" | "Orphan";

function finalizersOf(object: KubeObject): string[] {
  return (object.metadata.finalizers as string[] | undefined) ?? [];
}

export function deletionController(store: ObjectStore, podTerminationMs: number) {
  const timers = new Set<NodeJS.Timeout>();
  /** Pods still in their graceful shutdown (by uid). */
  const shuttingDown = new Set<string>();
  const current = (object: KubeObject) =>
    store.all().find((o) => o.metadata.uid === object.metadata.uid);
  const dependentsOf = (owner: KubeObject) =>
    store.all().filter((o) => ((o.metadata.ownerReferences as Array<{ uid?: string }> | undefined) ?? []).some((ref) => ref.uid === owner.metadata.uid));

  /** Removes what is Terminating and has nothing left to wait for; repeats until nothing changes. */
  function collect(): void {
    for (let pass = 0; pass < 100; pass++) {
      let changed = false;
      for (const object of store.all()) {
        if (!object.metadata.deletionTimestamp) continue;
        const finalizers = finalizersOf(object);
        if (finalizers.includes(FOREGROUND) && dependentsOf(object).length === 0) {
          const rest = finalizers.filter((f) => f !== FOREGROUND);
          store.put({ ...object, metadata: { ...object.metadata, finalizers: rest } });
          changed = true;
        } else if (finalizers.length === 0 && !shuttingDown.has(object.metadata.uid as string)) {
          store.drop(object);
          changed = true;
        }
      }
      if (!changed) return;
    }
  }

  function terminate(object: KubeObject, extra: Record<string, unknown> = {}): KubeObject {
    return store.put({ ...object, metadata: { ...object.metadata, deletionTimestamp: object.metadata.deletionTimestamp ?? new Date().toISOString(), ...extra } });
  }

  function deletePod(pod: KubeObject): void {
    if (podTerminationMs <= 0) {
      if (finalizersOf(pod).length === 0) store.drop(pod);
      else terminate(pod);
      return;
    }
    shuttingDown.add(pod.metadata.uid as string);
    terminate(pod, { deletionGracePeriodSeconds: Math.ceil(podTerminationMs / 1000) });
    const timer = setTimeout(() => {
      timers.delete(timer);
      shuttingDown.delete(pod.metadata.uid as string);
      collect();
    }, podTerminationMs);
    timers.add(timer);
  }

  /** A DELETE request for `object` with this propagation policy; returns the object when it is left Terminating. */
  function remove(object: KubeObject, policy: Propagation): KubeObject | undefined {
    if (object.metadata.deletionTimestamp) {
      if (policy !== "Foreground" && finalizersOf(object).includes(FOREGROUND)) {
        store.put({ ...object, metadata: { ...object.metadata, finalizers: finalizersOf(object).filter((f) => f !== FOREGROUND) } });
        for (const dependent of dependentsOf(object)) if (policy === "Background") remove(dependent, "Background");
        collect();
      }
      return current(object);
    }
    const dependents = policy === "Orphan" ? [] : dependentsOf(object);
    if (policy === "Foreground" && dependents.length > 0) terminate(object, { finalizers: [...finalizersOf(object), FOREGROUND] });
    else if (object.kind === "Pod") deletePod(object);
    else if (finalizersOf(object).length > 0) terminate(object);
    else store.drop(object);
    for (const dependent of dependents) remove(dependent, "Background");
    collect();
    return current(object);
  }

  return {
    remove,
    /** After any write: a Terminating object whose last finalizer was removed goes. */
    collect,
    stop() {
      for (const timer of timers) clearTimeout(timer);
    },
  };
}
