// The Deployment controller, ReplicaSet controller and kubelet for one Deployment of the Kubernetes API test server
// (which runs no controllers), played over time through the API's watches as a cluster would: a new generation of
// the Deployment (its spec changed) gets a new ReplicaSet and a new Pod, not ready at first (ContainerCreating, or
// ImagePullBackOff when `pullFails` says so); after `readyAfterMs` the Pod is ready, the old Pods go and the
// Deployment's status says the rollout is complete. A Pod of the rollout that is deleted (a restart) is replaced by
// a new one, whose pull is decided again. `readyAfterMs: Infinity`: a rollout that never completes.
import { createHash, randomBytes } from "node:crypto";
import { apiPath, connectKube, type KubeClient } from "../../components/kube";
import type { KubeApiServer, KubeObject } from "./kube-api-server";

export interface DeploymentControllerOptions {
  namespace: string;
  name: string;
  readyAfterMs: number;
  /** Whether this Pod (the n-th of the rollout, from 1) cannot pull `image`. */
  pullFails?: (image: string, attempt: number) => boolean;
  /** The imageID a running container reports for `image` (what a node would resolve it to). */
  imageID?: (image: string) => string;
  /** How the controller reaches the server (default: the admin kubeconfig); on a server with Deckhouse's admission
   *  policies, a kube-system service account, as kube-controller-manager's controllers are. */
  kubeconfig?: string;
}

export interface DeploymentController {
  /** Rollouts started (new generations seen) and Pods created for them. */
  readonly rollouts: number;
  readonly podsCreated: number;
  /** Pods stuck pulling that were deleted (restarted) by someone. */
  readonly restartsSeen: number;
  stop(): Promise<void>;
}

interface Rollout {
  generation: number;
  hash: string;
  attempt: number;
  done: boolean;
}

export async function startDeploymentController(kube: KubeApiServer, opts: DeploymentControllerOptions): Promise<DeploymentController> {
  const client: KubeClient = await connectKube({ kubeconfig: opts.kubeconfig ?? kube.kubeconfigYaml });
  const abort = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  let rollout: Rollout | undefined;
  let rollouts = 0;
  let podsCreated = 0;
  let restartsSeen = 0;
  const ns = opts.namespace;
  const deployment = () => kube.get("apps/v1", "Deployment", ns, opts.name);
  const podsOf = (hash?: string) =>
    kube.list("v1", "Pod", ns).filter((p) => p.metadata.labels?.app === opts.name && (hash === undefined || p.metadata.labels?.["pod-template-hash"] === hash));

  function setStatus(status: Record<string, unknown>): void {
    const live = deployment();
    if (live) kube.put({ ...live, status });
  }

  function createPod(d: KubeObject, r: Rollout): void {
    r.attempt++;
    podsCreated++;
    const template = (d.spec as { template: { metadata?: { labels?: Record<string, string> }; spec: { containers: Array<{ name: string; image: string }> } } }).template;
    const stuck = template.spec.containers.find((c) => opts.pullFails?.(c.image, r.attempt));
    const name = `${opts.name}-${r.hash}-${randomBytes(3).toString("hex").slice(0, 5)}`;
    kube.put({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: ns, labels: { ...template.metadata?.labels, app: opts.name, "pod-template-hash": r.hash }, ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: `${opts.name}-${r.hash}`, uid: `rs-${r.hash}`, controller: true }] },
      spec: template.spec,
      status: {
        phase: "Pending",
        containerStatuses: template.spec.containers.map((c) => ({
          name: c.name,
          image: c.image,
          imageID: "",
          ready: false,
          state: { waiting: c === stuck ? { reason: "ImagePullBackOff", message: `Back-off pulling image "${c.image}"` } : { reason: "ContainerCreating" } },
        })),
      },
    });
    if (stuck || !Number.isFinite(opts.readyAfterMs)) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      becomeReady(name, r);
    }, opts.readyAfterMs);
    timers.add(timer);
  }

  function becomeReady(podName: string, r: Rollout): void {
    const pod = kube.get("v1", "Pod", ns, podName);
    const d = deployment();
    if (!pod || !d || rollout !== r) return;
    const containers = (pod.spec as { containers: Array<{ name: string; image: string }> }).containers;
    kube.put({
      ...pod,
      status: { phase: "Running", containerStatuses: containers.map((c) => ({ name: c.name, image: c.image, imageID: opts.imageID?.(c.image) ?? "", ready: true, state: { running: {} } })) },
    });
    for (const old of podsOf()) if (old.metadata.labels?.["pod-template-hash"] !== r.hash) kube.remove("v1", "Pod", ns, old.metadata.name);
    r.done = true;
    setStatus({
      observedGeneration: r.generation,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      conditions: [
        { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
        { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable", message: `ReplicaSet "${opts.name}-${r.hash}" has successfully progressed.` },
      ],
    });
  }

  function onDeployment(d: KubeObject): void {
    const generation = Number(d.metadata.generation ?? 1);
    const observed = Number((d.status as { observedGeneration?: number } | undefined)?.observedGeneration ?? 0);
    if (generation <= observed) return;
    const hash = createHash("sha256").update(JSON.stringify((d.spec as { template: unknown }).template)).digest("hex").slice(0, 10);
    if (rollout && rollout.hash === hash) {
      // a change outside the pod template (e.g. annotations of the spec): observed, nothing to roll
      rollout.generation = generation;
      const status = (d.status ?? {}) as Record<string, unknown>;
      setStatus({ ...status, observedGeneration: generation });
      return;
    }
    rollout = { generation, hash, attempt: 0, done: false };
    rollouts++;
    kube.put({ apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: `${opts.name}-${hash}`, namespace: ns, labels: { app: opts.name, "pod-template-hash": hash } }, spec: { replicas: 1, template: (d.spec as { template: unknown }).template } });
    const oldReady = podsOf().filter((p) => p.metadata.labels?.["pod-template-hash"] !== hash).length;
    setStatus({
      observedGeneration: generation,
      replicas: oldReady + 1,
      updatedReplicas: 1,
      readyReplicas: oldReady,
      availableReplicas: oldReady,
      conditions: [{ type: "Progressing", status: "True", reason: "ReplicaSetUpdated", message: `ReplicaSet "${opts.name}-${hash}" is progressing.` }],
    });
    createPod(deployment() ?? d, rollout);
  }

  function onPodDeleted(pod: KubeObject): void {
    const r = rollout;
    if (!r || r.done || pod.metadata.labels?.["pod-template-hash"] !== r.hash) return;
    restartsSeen++;
    const d = deployment();
    if (d && podsOf(r.hash).length === 0) createPod(d, r);
  }

  const watch = (resource: string, query: Record<string, string>, onEvent: (type: string, object: KubeObject) => void) =>
    client.watch(apiPath({ apiVersion: resource === "pods" ? "v1" : "apps/v1", resource, namespace: ns }), query, onEvent, abort.signal).catch(() => undefined);
  const watches = [
    watch("deployments", { fieldSelector: `metadata.name=${opts.name}` }, (type, object) => {
      if (type === "ADDED" || type === "MODIFIED") onDeployment(object);
    }),
    watch("pods", { labelSelector: `app=${opts.name}` }, (type, object) => {
      if (type === "DELETED") onPodDeleted(object);
    }),
  ];

  return {
    get rollouts() {
      return rollouts;
    },
    get podsCreated() {
      return podsCreated;
    },
    get restartsSeen() {
      return restartsSeen;
    },
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      abort.abort();
      await Promise.all(watches);
      await client.close();
    },
  };
}
