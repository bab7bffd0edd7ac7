// The rollout waiter and the old-registry pod listing, run as the serialized dynamic provider (the code Pulumi
// stores in the state) against the Kubernetes API test server on 127.0.0.1.
import * as pulumi from "@pulumi/pulumi";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";
import { addStackOperator } from "../helpers/kube-api/stack-operator";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { configureProvider, serializeAndRevive } from "../helpers/serialized-provider";
import { connectKube } from "../../components/kube";
import { waitForRollout } from "../../components/switch/cluster";
import { rolloutProvider } from "../../components/switch/rollout-provider";
import { describeOldRegistryWorkload } from "../../components/switch/old-registry-workloads";
import { clearOldRegistryWorkloads, ISTIO_IMAGE, restartedAt, seedOldRegistryWorkloads } from "../helpers/old-registry-workloads";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const TARGET = "registry.example.com/client/deckhouse:rock-solid-1.46";

let server: KubeApiServer;
let provider: pulumi.dynamic.ResourceProvider;

beforeAll(async () => {
  server = await startKubeApiServer();
  provider = (await serializeAndRevive<pulumi.dynamic.ResourceProvider>(rolloutProvider)).provider;
  // exactly the switch stack's RBAC rules (docs/permissions/switch-stack.yaml)
  await configureProvider(provider, { "kubernetes:kubeconfig": server.kubeconfigFor(addStackOperator(server, "switch-stack")) });
});

afterAll(async () => {
  await server?.stop();
});

function deployment(image: string, status: Record<string, unknown>): KubeObject {
  return deckhouseDeployment({ generation: 2, containers: [{ name: "deckhouse", image }], status });
}

function pod(namespace: string, name: string, images: string[], extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Pod", metadata: { name, namespace, labels: { app: namespace === "d8-system" ? "deckhouse" : name } }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) }, ...extra };
}

const inputs = (timeoutSeconds = 30) => ({
  namespace: "d8-system",
  name: "deckhouse",
  expectedImage: TARGET,
  oldRegistry: OLD,
  timeoutSeconds,
  pollSeconds: 0.05,
});

describe("DeckhouseRollout provider", () => {
  it("waits for the rollout, then lists the pods still on the old registry in every namespace", async () => {
    server.put(deployment(TARGET, { observedGeneration: 1, replicas: 2, updatedReplicas: 1, availableReplicas: 1 }));
    server.put(pod("d8-system", "deckhouse-new", [TARGET]));
    server.put(pod("kube-system", "kube-proxy-abc", [`${OLD}@sha256:${"1".repeat(64)}`]));
    server.put(pod("app", "web-1", ["nginx:1.25", `${OLD}/install:v1`]));
    server.put(pod("app", "web-2", ["registry.example.com/client/deckhouse:x"]));
    // The test plays the deployment controller: the rollout finishes after the provider started waiting.
    let polls = 0;
    const controller = setInterval(() => {
      if (server.requests.filter((r) => r.path === "/apis/apps/v1/namespaces/d8-system/deployments/deckhouse").length > 2 && polls++ === 0) {
        server.put(deployment(TARGET, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }));
      }
    }, 20);
    try {
      const result = await provider.create!(inputs());
      expect(polls).toBeGreaterThan(0); // it really waited for the controller
      expect(result.outs.ready).toBe(true);
      expect(result.outs.oldRegistryPods).toEqual([
        { namespace: "app", name: "web-1", images: [`${OLD}/install:v1`] },
        { namespace: "kube-system", name: "kube-proxy-abc", images: [`${OLD}@sha256:${"1".repeat(64)}`] },
      ]);
    } finally {
      clearInterval(controller);
      for (const [ns, name] of [["d8-system", "deckhouse-new"], ["kube-system", "kube-proxy-abc"], ["app", "web-1"], ["app", "web-2"]]) server.remove("v1", "Pod", ns, name);
    }
  });

  it("fails after its timeout naming the pod that cannot pull the new image", async () => {
    server.put(deployment(TARGET, { observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 1 }));
    server.put(
      pod("d8-system", "deckhouse-stuck", [TARGET], {
        status: { containerStatuses: [{ name: "c0", image: TARGET, state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } } }] },
      }),
    );
    try {
      // no restarts here: the message alone must name the stuck pod
      await expect(provider.create!({ ...inputs(1), maxRestarts: 0 })).rejects.toThrow(
        `Deployment d8-system/deckhouse did not become ready: 1 old replicas pending termination; pods that cannot pull: d8-system/deckhouse-stuck: ${TARGET} (ImagePullBackOff)`,
      );
    } finally {
      server.remove("v1", "Pod", "d8-system", "deckhouse-stuck");
    }
  });

  const podPath = (name: string) => `/api/v1/namespaces/d8-system/pods/${name}`;
  const deletesOf = (name: string) => server.requests.filter((r) => r.method === "DELETE" && r.path === podPath(name)).length;
  function stuckPod(name: string, uid: string, reason = "ImagePullBackOff"): KubeObject {
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "d8-system", uid, labels: { app: "deckhouse" } },
      spec: { containers: [{ name: "deckhouse", image: TARGET }] },
      status: { containerStatuses: [{ name: "deckhouse", image: TARGET, state: { waiting: { reason, message: "pull access denied" } } }] },
    };
  }

  it("deletes a pod stuck pulling once, so its ReplicaSet recreates it, and keeps waiting until ready", async () => {
    server.put(deployment(TARGET, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 0 }));
    server.put(stuckPod("deckhouse-aaa", "uid-aaa", "ErrImagePull"));
    // The test plays the ReplicaSet controller: once the stuck pod is gone, a fresh one pulls and becomes ready.
    let recreated = false;
    const controller = setInterval(() => {
      if (!recreated && !server.get("v1", "Pod", "d8-system", "deckhouse-aaa")) {
        recreated = true;
        server.put(pod("d8-system", "deckhouse-bbb", [TARGET], { status: { containerStatuses: [{ name: "c0", image: TARGET, ready: true, state: { running: {} } }] } }));
        server.put(deployment(TARGET, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }));
      }
    }, 20);
    try {
      const result = await provider.create!(inputs(30));
      expect(result.outs.ready).toBe(true);
      expect(recreated).toBe(true);
      expect(deletesOf("deckhouse-aaa")).toBe(1);
      expect(deletesOf("deckhouse-bbb")).toBe(0);
    } finally {
      clearInterval(controller);
      server.remove("v1", "Pod", "d8-system", "deckhouse-bbb");
    }
  });

  it("restarts each stuck pod only once, and no more pods than maxRestarts in all, logging each restart", async () => {
    server.put(deployment(TARGET, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 0 }));
    const names = ["deckhouse-p1", "deckhouse-p2", "deckhouse-p3"];
    for (const name of names) server.put(stuckPod(name, `uid-${name}`));
    // A deleted pod that lingers (terminating, same uid) is seen again; the waiter must not delete it twice.
    const controller = setInterval(() => {
      for (const name of names) if (!server.get("v1", "Pod", "d8-system", name)) server.put(stuckPod(name, `uid-${name}`));
    }, 10);
    const kube = await connectKube({ kubeconfig: server.kubeconfigYaml });
    const lines: string[] = [];
    try {
      const waiting = waitForRollout(kube, { namespace: "d8-system", name: "deckhouse", expectedImage: TARGET, timeoutMs: 1000, pollMs: 50, maxRestarts: 2, log: (line) => lines.push(line) });
      await expect(waiting).rejects.toThrow(/did not become ready: .*pods that cannot pull: .*; 2 stuck pod\(s\) were restarted$/);
      expect(names.map(deletesOf)).toEqual([1, 1, 0]);
      expect(lines).toEqual([
        `images-copier: restarted pod d8-system/deckhouse-p1 (${TARGET} (ImagePullBackOff)) so it pulls again`,
        `images-copier: restarted pod d8-system/deckhouse-p2 (${TARGET} (ImagePullBackOff)) so it pulls again`,
      ]);
    } finally {
      clearInterval(controller);
      await kube.close();
      for (const name of names) server.remove("v1", "Pod", "d8-system", name);
    }
  });

  it("counts the copied release under its original tag (Deckhouse re-rendered it) once its pod runs the copied digest", async () => {
    const original = "registry.example.com/client/deckhouse:v1.46.3";
    const copied = `sha256:${"c".repeat(64)}`;
    server.put(deployment(original, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }));
    const running = (imageID?: string) =>
      pod("d8-system", "deckhouse-orig", [], { spec: { containers: [{ name: "deckhouse", image: original }] }, status: { containerStatuses: [{ name: "deckhouse", image: original, ...(imageID ? { imageID } : {}) }] } });
    server.put(running());
    // The test plays the kubelet: the digest appears in the pod's status only after the waiter has looked.
    const podLists = () => server.requests.filter((r) => r.method === "GET" && r.path === "/api/v1/namespaces/d8-system/pods").length;
    const before = podLists();
    const kubelet = setInterval(() => {
      if (podLists() > before) server.put(running(`registry.example.com/client/deckhouse@${copied}`));
    }, 20);
    try {
      const result = await provider.create!({ ...inputs(30), alsoImage: original, expectedDigest: copied });
      expect(result.outs.ready).toBe(true);
      expect(podLists()).toBeGreaterThan(before);
      // another digest under that tag is not the copied release
      server.put(running(`registry.example.com/client/deckhouse@sha256:${"e".repeat(64)}`));
      clearInterval(kubelet);
      await expect(provider.create!({ ...inputs(30), alsoImage: original, expectedDigest: copied })).rejects.toThrow(`runs "${original}" as sha256:${"e".repeat(64)}, not the copied ${copied}`);
      // without the copy's original tag the image is simply not the target yet
      await expect(provider.create!(inputs(1))).rejects.toThrow(`not yet "${TARGET}"`);
    } finally {
      clearInterval(kubelet);
      server.remove("v1", "Pod", "d8-system", "deckhouse-orig");
    }
  });

  it("groups the pods on the old registry by owner, calls out istio sidecars; istio restarts only the sidecar's Deployment, all the DaemonSet too, never Deckhouse's own", async () => {
    server.put(deployment(TARGET, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }));
    seedOldRegistryWorkloads(server, OLD);
    try {
      const none = await provider.create!(inputs());
      const grouped = [
        { kind: "DaemonSet", namespace: "d8-monitoring", name: "node-exporter", pods: ["node-exporter-r4t6y"], images: [`${OLD}@sha256:${"c".repeat(64)}`], istioSidecar: false, deckhouse: true },
        { kind: "Pod", namespace: "debug", name: "toolbox", pods: ["toolbox"], images: [`${OLD}:toolbox`], istioSidecar: false, deckhouse: false },
        { kind: "DaemonSet", namespace: "logging", name: "log-shipper", pods: ["log-shipper-7xk2p"], images: [`${OLD}:log-shipper-1`], istioSidecar: false, deckhouse: false },
        { kind: "Deployment", namespace: "shop", name: "web", pods: ["web-6d8f7b-k2m4x", "web-6d8f7b-p9q7z"], images: [ISTIO_IMAGE(OLD)], istioSidecar: true, deckhouse: false },
        { kind: "Job", namespace: "shop", name: "migrate", pods: ["migrate-5wq8r"], images: [`${OLD}:migrate`], istioSidecar: false, deckhouse: false },
      ];
      expect(none.outs.oldRegistryWorkloads).toEqual(grouped);
      expect(none.outs.oldRegistryPods.map((p: { name: string }) => p.name)).toEqual(["node-exporter-r4t6y", "toolbox", "log-shipper-7xk2p", "migrate-5wq8r", "web-6d8f7b-k2m4x", "web-6d8f7b-p9q7z"]);
      // the lines the update shows (the revived provider prints them to the host's stdout, as the real host does)
      expect(describeOldRegistryWorkload(grouped[3])).toBe(`images-copier: on the old registry: Deployment shop/web (2 pods, istio sidecar): ${ISTIO_IMAGE(OLD)}`);
      expect(describeOldRegistryWorkload(grouped[0])).toBe(`images-copier: on the old registry: DaemonSet d8-monitoring/node-exporter (1 pod, Deckhouse's own): ${OLD}@sha256:${"c".repeat(64)}`);
      expect(restartedAt(server, "apps/v1", "Deployment", "shop", "web")).toBeUndefined();

      // istio: an update (the mode changed), the sidecar's Deployment alone gets a restartedAt
      const olds = none.outs;
      expect((await provider.diff!("d8-system/deckhouse", olds, { ...inputs(), restartOldRegistryWorkloads: "istio" })).changes).toBe(true);
      const istio = await provider.update!("d8-system/deckhouse", olds, { ...inputs(), restartOldRegistryWorkloads: "istio" });
      const at = restartedAt(server, "apps/v1", "Deployment", "shop", "web");
      expect(at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(restartedAt(server, "apps/v1", "DaemonSet", "logging", "log-shipper")).toBeUndefined();
      expect(restartedAt(server, "apps/v1", "Deployment", "shop", "cart")).toBeUndefined();
      expect(istio.outs.oldRegistryWorkloads.map((w: { name: string; restart?: string }) => [w.name, w.restart])).toEqual([
        ["node-exporter", undefined], ["toolbox", undefined], ["log-shipper", undefined], ["web", `restarted at ${at}`], ["migrate", undefined],
      ]);

      // all: every owner it can restart; Deckhouse's own, the Job and the bare pod said why not
      const all = await provider.update!("d8-system/deckhouse", istio.outs, { ...inputs(), restartOldRegistryWorkloads: "all" });
      expect(restartedAt(server, "apps/v1", "DaemonSet", "logging", "log-shipper")).toMatch(/Z$/);
      expect(restartedAt(server, "apps/v1", "DaemonSet", "d8-monitoring", "node-exporter")).toBeUndefined();
      expect(all.outs.oldRegistryWorkloads.map((w: { name: string; restart?: string }) => [w.name, w.restart?.replace(/\d{4}-.*Z$/, "<time>")])).toEqual([
        ["node-exporter", "not restarted: Deckhouse's own (it rolls its workloads to the new registry itself)"],
        ["toolbox", "not restarted: a bare pod (nothing would recreate it): recreate it yourself"],
        ["log-shipper", "restarted at <time>"],
        ["web", "restarted at <time>"],
        ["migrate", "not restarted: a Job's pods are not restarted (run it again, or wait for its next schedule)"],
      ]);
      // a merge patch of the pod template's annotation alone (what Deckhouse's admission lets through on its objects)
      const patches = server.requests.filter((r) => r.method === "PATCH" && /\/(deployments|daemonsets|statefulsets)\//.test(r.path));
      expect(patches.map((r) => r.contentType)).toEqual(["application/merge-patch+json", "application/merge-patch+json", "application/merge-patch+json"]);
    } finally {
      clearOldRegistryWorkloads(server);
    }
  });

  it("fails at once on ProgressDeadlineExceeded", async () => {
    server.put(deployment(TARGET, { observedGeneration: 2, conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "ReplicaSet has timed out progressing." }] }));
    await expect(provider.create!(inputs(60))).rejects.toThrow(/progress deadline: ReplicaSet has timed out progressing/);
  });

  it("refresh lists the pods again", async () => {
    server.put(pod("app", "late", [`${OLD}:late`]));
    try {
      const olds = { ...inputs(), ready: true, oldRegistryPods: [] };
      const read = await provider.read!("d8-system/deckhouse", olds);
      expect(read.props?.oldRegistryPods).toEqual([{ namespace: "app", name: "late", images: [`${OLD}:late`] }]);
      expect(read.props?.expectedImage).toBe(TARGET);
    } finally {
      server.remove("v1", "Pod", "app", "late");
    }
  });

  it("re-runs only when what it waits for changes", async () => {
    const olds = { ...inputs(), ready: true, oldRegistryPods: [] };
    expect((await provider.diff!("d8-system/deckhouse", olds, inputs())).changes).toBe(false);
    expect((await provider.diff!("d8-system/deckhouse", olds, { ...inputs(), expectedImage: "registry.example.com/client/deckhouse:other" })).changes).toBe(true);
  });

  it("takes cluster access from configure, never from the state: a record still holding an old kubeconfig is rewritten without it", async () => {
    server.put(deployment(TARGET, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }));
    const stale = { kubeconfig: server.kubeconfigYaml.replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:9") };
    const olds = { ...inputs(), kube: stale, ready: true, oldRegistryPods: [] };
    expect((await provider.diff!("d8-system/deckhouse", olds, inputs())).changes).toBe(true);
    const updated = await provider.update!("d8-system/deckhouse", olds, inputs());
    expect(updated.outs.ready).toBe(true);
    expect("kube" in updated.outs).toBe(false);
    // a provider configured with a cluster that is not there fails: the access it uses is configure's
    const elsewhere = (await serializeAndRevive<pulumi.dynamic.ResourceProvider>(rolloutProvider)).provider;
    await configureProvider(elsewhere, { "kubernetes:kubeconfig": stale.kubeconfig });
    await expect(elsewhere.create!(inputs(1))).rejects.toThrow(/ECONNREFUSED/);
  });
});
