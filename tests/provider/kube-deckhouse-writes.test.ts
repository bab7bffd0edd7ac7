// Writes to Deckhouse's own objects against the API test server with Deckhouse v1.66's admission policies: the
// project's client sends `Impersonate-User` on creates, patches and deletes of `heritage: deckhouse` objects only
// (reads and our own objects stay the kubeconfig's user), and the write proof (server-side dry runs) turns a refusal
// into one line naming the object, the identity and the server's message, with nothing changed.
import { apiPath, connectKube, type KubeClient } from "../../components/kube";
import { loadKubeConfig } from "../../components/kube/access";
import { impersonatedKubeconfig } from "../../components/kube/impersonated-kubeconfig";
import { proveWrites, type ProposedWrite } from "../../components/kube/write-proof";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";

const HERITAGE = { heritage: "deckhouse", module: "deckhouse" };
const SUDO = "system:sudouser";
const registryPath = apiPath({ apiVersion: "v1", resource: "secrets", namespace: "d8-system", name: "deckhouse-registry" });
const secrets = apiPath({ apiVersion: "v1", resource: "secrets", namespace: "d8-system" });

let server: KubeApiServer;
const clients: KubeClient[] = [];

async function client(kubeconfig: string, impersonate?: string): Promise<KubeClient> {
  const c = await connectKube({ kubeconfig, ...(impersonate ? { impersonate } : {}) });
  clients.push(c);
  return c;
}

function seed(): void {
  server.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "deckhouse-registry", namespace: "d8-system", labels: { ...HERITAGE } }, type: "kubernetes.io/dockerconfigjson", data: { address: Buffer.from("registry.vendor.example").toString("base64") } });
  server.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "deckhouse-abc", namespace: "d8-system", labels: { ...HERITAGE, app: "deckhouse" } }, spec: { containers: [{ name: "deckhouse", image: "registry.vendor.example/ee:v1" }] } } as KubeObject);
}

/** The writes the server recorded since `from`, without the reads. */
function writesSince(from: number) {
  return server.requests.slice(from).filter((r) => r.method !== "GET");
}

beforeAll(async () => {
  server = await startKubeApiServer({ deckhouse: { version: "v1.66" } });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
});
beforeEach(() => seed());

test("with impersonation, only writes of heritage: deckhouse objects go as system:sudouser; reads and our own objects stay the user's", async () => {
  const kube = await client(server.kubeconfigYaml, SUDO);
  const from = server.requests.length;
  await kube.create(secrets, { apiVersion: "v1", kind: "Secret", metadata: { name: "ours", labels: { "app.kubernetes.io/managed-by": "images-copier" } } });
  await kube.patch(registryPath, { data: { path: Buffer.from("/deckhouse/ee").toString("base64") } });
  await kube.delete(apiPath({ apiVersion: "v1", resource: "pods", namespace: "d8-system", name: "deckhouse-abc" }));
  await kube.delete(`${secrets}/ours`);
  expect(await kube.get(registryPath)).toBeDefined();

  const writes = writesSince(from).map((r) => ({ method: r.method, path: r.path, user: r.user, impersonatedBy: r.impersonatedBy }));
  expect(writes).toEqual([
    { method: "POST", path: secrets, user: "kubernetes-admin", impersonatedBy: undefined },
    { method: "PATCH", path: registryPath, user: SUDO, impersonatedBy: "kubernetes-admin" },
    { method: "DELETE", path: "/api/v1/namespaces/d8-system/pods/deckhouse-abc", user: SUDO, impersonatedBy: "kubernetes-admin" },
    { method: "DELETE", path: `${secrets}/ours`, user: "kubernetes-admin", impersonatedBy: undefined },
  ]);
  // every read, the label look-ups included, is the user's own
  const reads = server.requests.slice(from).filter((r) => r.method === "GET");
  expect(reads.length).toBeGreaterThan(0);
  expect(reads.filter((r) => r.user !== "kubernetes-admin" || r.impersonatedBy)).toEqual([]);
  const data = server.get("v1", "Secret", "d8-system", "deckhouse-registry")?.data as Record<string, string>;
  expect(Buffer.from(data.path, "base64").toString()).toBe("/deckhouse/ee");
});

test("a user that may patch an object but not read it: its write goes as the user (no label known), as without impersonation", async () => {
  const token = server.addToken({ user: "writer", grants: [{ namespace: "d8-system", rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["patch"] }] }] });
  server.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "notes", namespace: "d8-system" }, data: { a: "1" } });
  const kube = await client(server.kubeconfigFor(token), SUDO);
  const from = server.requests.length;
  await kube.patch(apiPath({ apiVersion: "v1", resource: "configmaps", namespace: "d8-system", name: "notes" }), { data: { a: "2" } });
  expect(server.requests.slice(from).map((r) => `${r.method} ${r.code} ${r.user}${r.impersonatedBy ? ` by ${r.impersonatedBy}` : ""}`)).toEqual(["GET 403 writer", "PATCH 200 writer"]);
  expect(server.get("v1", "ConfigMap", "d8-system", "notes")?.data).toEqual({ a: "2" });
});

test("without impersonation v1.66 refuses the write of deckhouse-registry (kubernetes-admin is not exempt)", async () => {
  const kube = await client(server.kubeconfigYaml);
  const error = await kube.patch(registryPath, { data: { path: "eA==" } }).catch((e: Error) => e);
  expect((error as Error).message).toMatch(/403 .*heritage: deckhouse. label is forbidden/);
});

const registryApply = (path: string): ProposedWrite => ({
  object: "Secret d8-system/deckhouse-registry",
  verb: "patch",
  path: registryPath,
  body: { apiVersion: "v1", kind: "Secret", metadata: { name: "deckhouse-registry", namespace: "d8-system" }, data: { path: Buffer.from(path).toString("base64") } },
  contentType: "application/apply-patch+yaml",
  query: { fieldManager: "images-copier-switch", force: "true" },
});

test("the proof sends each write once as a dry run with the write's identity, and nothing changes", async () => {
  const kube = await client(server.kubeconfigYaml, SUDO);
  const before = server.get("v1", "Secret", "d8-system", "deckhouse-registry")!;
  const from = server.requests.length;
  const proven = await proveWrites(
    kube,
    [registryApply("/new"), { object: "Secret d8-system/ours", verb: "create", path: secrets, body: { apiVersion: "v1", kind: "Secret", metadata: { name: "ours-dry" } } }],
    "images-copier: refusing to switch",
  );
  expect(proven).toEqual([
    { object: "Secret d8-system/deckhouse-registry", verb: "patch", identity: SUDO },
    { object: "Secret d8-system/ours", verb: "create", identity: "kubeconfig user test" },
  ]);
  expect(writesSince(from).map((r) => ({ method: r.method, user: r.user, dryRun: r.dryRun, fieldManager: r.query.fieldManager }))).toEqual([
    { method: "PATCH", user: SUDO, dryRun: true, fieldManager: "images-copier-switch" },
    { method: "POST", user: "kubernetes-admin", dryRun: true, fieldManager: undefined },
  ]);
  expect(server.get("v1", "Secret", "d8-system", "deckhouse-registry")).toEqual(before);
  expect(server.get("v1", "Secret", "d8-system", "ours-dry")).toBeUndefined();
});

test("a token that may not impersonate: one line naming the object, the identity, the server's message and what to do; nothing changed", async () => {
  const token = server.addToken({ user: "ops", grants: [{ rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }] }] });
  const kube = await client(server.kubeconfigFor(token), SUDO);
  const before = server.get("v1", "Secret", "d8-system", "deckhouse-registry")!;
  const error = (await proveWrites(kube, [registryApply("/new")], "images-copier: refusing to switch").catch((e: Error) => e)) as Error;
  expect(error.message.split("\n")).toHaveLength(1);
  expect(error.message).toMatch(/^images-copier: refusing to switch: the cluster refuses to patch Secret d8-system\/deckhouse-registry as system:sudouser \(impersonated by the kubeconfig's user "[^"]+"\): /);
  expect(error.message).toContain('User "ops" cannot impersonate resource "users"');
  expect(error.message).toContain("(403, server-side dry run; nothing changed)");
  expect(error.message).toMatch(/To fix: grant the kubeconfig's user "[^"]+" the verb impersonate on users "system:sudouser"/);
  expect(server.get("v1", "Secret", "d8-system", "deckhouse-registry")).toEqual(before);
});

test("without kubeImpersonate the proof names the admission policy's refusal and says to set kubeImpersonate", async () => {
  const kube = await client(server.kubeconfigYaml);
  const error = (await proveWrites(kube, [registryApply("/new")], "images-copier: refusing to switch").catch((e: Error) => e)) as Error;
  expect(error.message.split("\n")).toHaveLength(1);
  expect(error.message).toContain(`as the kubeconfig's user "test": `);
  expect(error.message).toMatch(/heritage: deckhouse. label is forbidden \(403, server-side dry run; nothing changed\)\. To fix: .*set images-copier:kubeImpersonate to system:sudouser/);
});

test("the Kubernetes provider's kubeconfig: the current context only, its user impersonating kubeImpersonate", () => {
  const text = impersonatedKubeconfig({ kubeconfig: server.kubeconfigYaml }, SUDO);
  const parsed = JSON.parse(text) as { users: Array<{ name: string; user: Record<string, unknown> }>; contexts: unknown[]; clusters: Array<{ cluster: Record<string, unknown> }>; "current-context": string };
  expect(parsed.users).toEqual([{ name: "test", user: { token: server.token, as: SUDO } }]);
  expect(parsed.contexts).toHaveLength(1);
  expect(parsed.clusters[0].cluster).toMatchObject({ server: server.url, "certificate-authority-data": expect.any(String) });
  // client-node reads it back (it ignores `as`; the Kubernetes provider honours it)
  expect(loadKubeConfig({ kubeconfig: text }).getCurrentCluster()?.server).toBe(server.url);
});
