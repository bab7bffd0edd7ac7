// The scheduler's part for the API test server: places a pod on a node whose labels match its nodeSelector and
// whose NoSchedule/NoExecute taints it tolerates, or marks it Unschedulable with kube-scheduler's own message
// ("0/3 nodes are available: 3 node(s) had untolerated taint {key: value}. …"). A stand-in, not the scheduler:
// no resources, affinity or priorities.
import type { KubeObject } from "./kube-api-server";

export interface StandInNode {
  name: string;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }>;
}

interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

function tolerates(tolerations: Toleration[], taint: NonNullable<StandInNode["taints"]>[number]): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.key === undefined) return t.operator === "Exists";
    if (t.key !== taint.key) return false;
    return t.operator === "Exists" || (t.value ?? "") === (taint.value ?? "");
  });
}

/** The pod with `spec.nodeName` and PodScheduled True, or PodScheduled False/Unschedulable and the reasons by node. */
export function schedulePod(pod: KubeObject, nodes: StandInNode[]): KubeObject {
  const spec = (pod.spec ?? {}) as { nodeSelector?: Record<string, string>; tolerations?: Toleration[] };
  const reasons = new Map<string, number>();
  const count = (reason: string) => reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  const now = new Date().toISOString();
  for (const node of nodes) {
    const labels = node.labels ?? {};
    if (!Object.entries(spec.nodeSelector ?? {}).every(([k, v]) => labels[k] === v)) {
      count("didn't match Pod's node affinity/selector");
      continue;
    }
    const blocking = (node.taints ?? []).find((taint) => taint.effect !== "PreferNoSchedule" && !tolerates(spec.tolerations ?? [], taint));
    if (blocking) {
      count(`had untolerated taint {${blocking.key}: ${blocking.value ?? ""}}`);
      continue;
    }
    return {
      ...pod,
      spec: { ...(pod.spec as object), nodeName: node.name },
      status: { ...(pod.status as object), conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: now }] },
    };
  }
  const detail = [...reasons].map(([reason, n]) => `${n} node(s) ${reason}`).sort().join(", ");
  const message = `0/${nodes.length} nodes are available: ${detail}. preemption: 0/${nodes.length} nodes are available: ${nodes.length} Preemption is not helpful for scheduling.`;
  return {
    ...pod,
    status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message, lastTransitionTime: now }] },
  };
}

/** What the scheduler does to a victim of preemption before deleting it (Kubernetes ≥ 1.26: the DisruptionTarget condition). */
export function preempted(pod: KubeObject, by: string): KubeObject {
  const status = (pod.status ?? {}) as { conditions?: unknown[] };
  return {
    ...pod,
    status: {
      ...status,
      conditions: [
        ...(status.conditions ?? []),
        { type: "DisruptionTarget", status: "True", reason: "PreemptionByScheduler", message: `${by}: preempting to accommodate a higher priority pod`, lastTransitionTime: new Date().toISOString() },
      ],
    },
  };
}
