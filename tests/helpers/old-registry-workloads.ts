// Workloads still on the vendor's registry after a switch, as a cluster has them: a user DaemonSet, a Deployment
// (through its ReplicaSet) whose pods carry an istio sidecar from Deckhouse's registry, a bare pod with an ephemeral
// debug container, a Job, and Deckhouse's own DaemonSet in a d8-* namespace (heritage: deckhouse). The test server
// runs no controllers: the owners, ReplicaSet and pods are put as the controllers would have made them.
import type { KubeApiServer, KubeObject } from "./kube-api-server";

export const ISTIO_IMAGE = (old: string) => `${old}@sha256:${"a".repeat(64)}`;

function owned(kind: string, name: string, apiVersion = "apps/v1") {
  return [{ apiVersion, kind, name, uid: `uid-${name}`, controller: true }];
}

function pod(namespace: string, name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Pod", metadata: { name, namespace, ...metadata }, spec, status: { phase: "Running" } };
}

function workload(apiVersion: string, kind: string, namespace: string, name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion, kind, metadata: { name, namespace, labels, uid: `uid-${name}` }, spec: { template: { metadata: { labels: { app: name } }, spec: { containers: [] } } } };
}

/** Puts the workloads and their pods; returns the pod names by owner as the switch should group them. */
export function seedOldRegistryWorkloads(server: KubeApiServer, old: string): void {
  server.put(workload("apps/v1", "DaemonSet", "logging", "log-shipper"));
  server.put(pod("logging", "log-shipper-7xk2p", { containers: [{ name: "shipper", image: `${old}:log-shipper-1` }] }, { ownerReferences: owned("DaemonSet", "log-shipper") }));

  server.put(workload("apps/v1", "Deployment", "shop", "web"));
  server.put({ apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: "web-6d8f7b", namespace: "shop", ownerReferences: owned("Deployment", "web") }, spec: {} });
  for (const suffix of ["k2m4x", "p9q7z"]) {
    server.put(
      pod(
        "shop",
        `web-6d8f7b-${suffix}`,
        { initContainers: [{ name: "istio-init", image: ISTIO_IMAGE(old) }], containers: [{ name: "web", image: "nginx:1.25" }, { name: "istio-proxy", image: ISTIO_IMAGE(old) }] },
        { ownerReferences: owned("ReplicaSet", "web-6d8f7b"), annotations: { "sidecar.istio.io/status": '{"containers":["istio-proxy"]}' } },
      ),
    );
  }
  // a Deployment with nothing on the old registry: never listed, never restarted
  server.put(workload("apps/v1", "Deployment", "shop", "cart"));

  server.put(pod("debug", "toolbox", { containers: [{ name: "sh", image: "busybox:1.36" }], ephemeralContainers: [{ name: "debugger", image: `${old}:toolbox` }] }));

  server.put(workload("batch/v1", "Job", "shop", "migrate"));
  server.put(pod("shop", "migrate-5wq8r", { containers: [{ name: "migrate", image: `${old}:migrate` }] }, { ownerReferences: owned("Job", "migrate", "batch/v1") }));

  server.put(workload("apps/v1", "DaemonSet", "d8-monitoring", "node-exporter", { heritage: "deckhouse", module: "monitoring-kubernetes" }));
  server.put(
    pod("d8-monitoring", "node-exporter-r4t6y", { containers: [{ name: "node-exporter", image: `${old}@sha256:${"c".repeat(64)}` }] }, { ownerReferences: owned("DaemonSet", "node-exporter"), labels: { heritage: "deckhouse" } }),
  );
}

/** The pod template's restartedAt of a workload, or undefined. */
export function restartedAt(server: KubeApiServer, apiVersion: string, kind: string, namespace: string, name: string): string | undefined {
  const object = server.get(apiVersion, kind, namespace, name) as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } } | undefined;
  return object?.spec?.template?.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"];
}

/** Removes what seedOldRegistryWorkloads put. */
export function clearOldRegistryWorkloads(server: KubeApiServer): void {
  for (const [apiVersion, kind, namespace, name] of [
    ["apps/v1", "DaemonSet", "logging", "log-shipper"],
    ["v1", "Pod", "logging", "log-shipper-7xk2p"],
    ["apps/v1", "Deployment", "shop", "web"],
    ["apps/v1", "Deployment", "shop", "cart"],
    ["apps/v1", "ReplicaSet", "shop", "web-6d8f7b"],
    ["v1", "Pod", "shop", "web-6d8f7b-k2m4x"],
    ["v1", "Pod", "shop", "web-6d8f7b-p9q7z"],
    ["v1", "Pod", "debug", "toolbox"],
    ["batch/v1", "Job", "shop", "migrate"],
    ["v1", "Pod", "shop", "migrate-5wq8r"],
    ["apps/v1", "DaemonSet", "d8-monitoring", "node-exporter"],
    ["v1", "Pod", "d8-monitoring", "node-exporter-r4t6y"],
  ]) server.remove(apiVersion, kind, namespace, name);
}
