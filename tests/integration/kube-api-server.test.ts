// The Kubernetes API test server's real-server rules that the engine scenarios rely on, through a real client
// (the program's own KubeClient over HTTPS): Server-Side Apply (keyed lists, ownership, conflicts, force),
// resourceVersion preconditions, generation bumps, deletion with propagation, Terminating objects, finalizers, and
// the immutable pod template of a Job.
import { connectKube, isKubeStatus, type KubeClient } from "../../components/kube";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";

let server: KubeApiServer;
let kube: KubeClient;

beforeAll(async () => {
  server = await startKubeApiServer({ podTerminationMs: 300 });
  kube = await connectKube({ kubeconfig: server.kubeconfigYaml });
});

afterAll(async () => {
  await kube?.close();
  await server?.stop();
});

const APPLY = "application/apply-patch+yaml";
const cmPath = "/api/v1/namespaces/d8-system/configmaps/settings";
const jobPath = "/apis/batch/v1/namespaces/d8-system/jobs/work";
const status = (error: unknown) => (error as { statusCode?: number }).statusCode;

test("Server-Side Apply: an upsert; fields a manager stops applying go; another manager's field is a conflict unless forced", async () => {
  const applied = (data: Record<string, string>) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "d8-system" }, data });
  await kube.patch(`${cmPath}?fieldManager=a`, applied({ one: "1", two: "2" }), APPLY);
  await kube.patch(`${cmPath}?fieldManager=a`, applied({ one: "1" }), APPLY);
  expect(((await kube.get<KubeObject>(cmPath))!.data as object)).toEqual({ one: "1" });
  const conflict = await kube.patch(`${cmPath}?fieldManager=b`, applied({ one: "x" }), APPLY).catch((e: unknown) => e);
  expect(status(conflict)).toBe(409);
  expect((conflict as Error).message).toMatch(/conflict with "a": \.data\.one/);
  await kube.patch(`${cmPath}?fieldManager=b&force=true`, applied({ one: "x" }), APPLY);
  // b took the field: a relinquishing everything (an apply of the bare identity) leaves it
  await kube.patch(`${cmPath}?fieldManager=a`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "d8-system" } }, APPLY);
  expect(((await kube.get<KubeObject>(cmPath))!.data as object)).toEqual({ one: "x" });
});

test("resourceVersion is a precondition; spec changes bump metadata.generation; a Job's pod template is immutable", async () => {
  const job = await kube.create<KubeObject>("/apis/batch/v1/namespaces/d8-system/jobs", {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "work" },
    spec: { backoffLimit: 0, template: { spec: { containers: [{ name: "main", image: "busybox" }] } } },
  });
  expect(job.metadata.generation).toBe(1);
  const stale = job.metadata.resourceVersion;
  const bumped = await kube.patch<KubeObject>(jobPath, { spec: { backoffLimit: 1 } });
  expect(bumped.metadata.generation).toBe(2);
  expect((await kube.patch<KubeObject>(jobPath, { metadata: { labels: { a: "b" } } })).metadata.generation).toBe(2);
  expect(status(await kube.patch(jobPath, { metadata: { resourceVersion: stale }, spec: { backoffLimit: 2 } }).catch((e: unknown) => e))).toBe(409);
  const immutable = await kube.patch(jobPath, { spec: { template: { spec: { containers: [{ name: "main", image: "alpine" }] } } } }).catch((e: unknown) => e);
  expect(status(immutable)).toBe(422);
});

test("deletion: foreground keeps the owner Terminating until its Pods have shut down; background frees the name at once; finalizers hold", async () => {
  const job = (await kube.get<KubeObject>(jobPath))!;
  server.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "work-1", namespace: "d8-system", ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "work", uid: job.metadata.uid }] } });
  await kube.delete(jobPath, { propagationPolicy: "Foreground" });
  const terminating = (await kube.get<KubeObject>(jobPath))!;
  expect(terminating.metadata).toMatchObject({ deletionTimestamp: expect.any(String), finalizers: ["foregroundDeletion"] });
  expect(server.get("v1", "Pod", "d8-system", "work-1")!.metadata.deletionTimestamp).toBeDefined();
  // an apply onto the Terminating Job is an upsert onto the dying object (same uid), as on a real server
  const upserted = await kube.patch<KubeObject>(`${jobPath}?fieldManager=m`, { apiVersion: "batch/v1", kind: "Job", metadata: { name: "work", namespace: "d8-system", labels: { again: "yes" } } }, APPLY);
  expect(upserted.metadata.uid).toBe(job.metadata.uid);
  // a second DELETE with background propagation drops the foreground finalizer: gone at once, the Pod still shutting down
  await kube.delete(jobPath, { propagationPolicy: "Background" });
  expect(await kube.get(jobPath)).toBeUndefined();
  expect(server.get("v1", "Pod", "d8-system", "work-1")).toBeDefined();
  for (let i = 0; i < 100 && server.get("v1", "Pod", "d8-system", "work-1"); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(server.get("v1", "Pod", "d8-system", "work-1")).toBeUndefined();

  server.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "held", namespace: "d8-system", finalizers: ["example.com/hold"] } });
  await kube.delete("/api/v1/namespaces/d8-system/configmaps/held");
  expect((await kube.get<KubeObject>("/api/v1/namespaces/d8-system/configmaps/held"))!.metadata.deletionTimestamp).toBeDefined();
  await kube.patch("/api/v1/namespaces/d8-system/configmaps/held", { metadata: { finalizers: null } });
  expect(await kube.get("/api/v1/namespaces/d8-system/configmaps/held")).toBeUndefined();
  expect(isKubeStatus(await kube.patch(cmPath.replace("settings", "missing"), {}).catch((e: unknown) => e), 404)).toBe(true);
});
