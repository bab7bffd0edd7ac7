// The shared Kubernetes client against the loopback API test server: auth methods, CRUD, watch and logs.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiPath, connectKube, isKubeStatus, KubeApiError, type KubeClient } from "../../components/kube";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";

let server: KubeApiServer;
let dir: string;
const clients: KubeClient[] = [];

async function client(kubeconfig: string, context?: string): Promise<KubeClient> {
  const c = await connectKube({ kubeconfig, context });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startKubeApiServer();
  dir = mkdtempSync(join(tmpdir(), "kube-client-test-"));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const secrets = apiPath({ apiVersion: "v1", resource: "secrets", namespace: "d8-system" });

test("bearer token from inline kubeconfig: create, get, list by label, merge patch, delete", async () => {
  const kube = await client(server.kubeconfigYaml);
  await kube.create(secrets, { apiVersion: "v1", kind: "Secret", metadata: { name: "a", labels: { app: "x" } }, data: { k: "dg==" } });
  await kube.create(secrets, { apiVersion: "v1", kind: "Secret", metadata: { name: "b", labels: { app: "y" } } });
  const got = await kube.get<{ data: Record<string, string> }>(`${secrets}/a`);
  expect(got?.data).toEqual({ k: "dg==" });
  expect(await kube.get(`${secrets}/missing`)).toBeUndefined();
  const listed = await kube.list<{ metadata: { name: string } }>(secrets, { labelSelector: "app=x" });
  expect(listed.items.map((i) => i.metadata.name)).toEqual(["a"]);
  await kube.patch(`${secrets}/a`, { metadata: { annotations: { run: "2" } } });
  expect(server.get("v1", "Secret", "d8-system", "a")?.metadata.annotations).toEqual({ run: "2" });
  await kube.delete(`${secrets}/a`);
  await kube.delete(`${secrets}/a`); // 404 is fine
  expect(server.get("v1", "Secret", "d8-system", "a")).toBeUndefined();
});

test("a conflict is a KubeApiError carrying the server's message", async () => {
  const kube = await client(server.kubeconfigYaml);
  await kube.create(secrets, { apiVersion: "v1", kind: "Secret", metadata: { name: "dup" } });
  const error = await kube.create(secrets, { apiVersion: "v1", kind: "Secret", metadata: { name: "dup" } }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(KubeApiError);
  expect((error as KubeApiError).statusCode).toBe(409);
  expect((error as Error).message).toContain('secrets "dup" already exists');
});

test("delete with a uid precondition removes only that very object; a newer one of the same name answers 409", async () => {
  const kube = await client(server.kubeconfigYaml);
  const first = await kube.create<{ metadata: { uid: string } }>(secrets, { apiVersion: "v1", kind: "Secret", metadata: { name: "run" } });
  await kube.delete(`${secrets}/run`);
  const second = await kube.create<{ metadata: { uid: string } }>(secrets, { apiVersion: "v1", kind: "Secret", metadata: { name: "run" } });
  const error = await kube.delete(`${secrets}/run`, undefined, { preconditions: { uid: first.metadata.uid } }).catch((e: unknown) => e);
  expect(isKubeStatus(error, 409)).toBe(true);
  expect(server.get("v1", "Secret", "d8-system", "run")?.metadata.uid).toBe(second.metadata.uid);
  await kube.delete(`${secrets}/run`, undefined, { preconditions: { uid: second.metadata.uid } });
  expect(server.get("v1", "Secret", "d8-system", "run")).toBeUndefined();
});

test("cluster-scoped paths: a list of DeckhouseReleases", async () => {
  const path = apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "deckhousereleases" });
  expect(path).toBe("/apis/deckhouse.io/v1alpha1/deckhousereleases");
  expect(apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "deckhousereleases", name: "v1.58.3" })).toBe("/apis/deckhouse.io/v1alpha1/deckhousereleases/v1.58.3");
  server.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "DeckhouseRelease", metadata: { name: "v1.58.3" }, spec: { version: "v1.58.3" } });
  const kube = await client(server.kubeconfigYaml);
  expect((await kube.list<{ spec: { version: string } }>(path)).items.map((r) => r.spec.version)).toEqual(["v1.58.3"]);
});

test("a wrong token is refused with 401", async () => {
  const kube = await client(server.kubeconfigYaml.replace(server.token, "not-the-token"));
  await expect(kube.get(`${secrets}/a`)).rejects.toThrow(/401/);
});

test("kubeconfig given as a path and KUBECONFIG, with an explicit context", async () => {
  const file = join(dir, "config");
  writeFileSync(file, server.kubeconfigYaml.replace(/current-context: test/, "current-context: other"));
  const viaPath = await client(file, "test");
  expect(await viaPath.get(`${secrets}/none`)).toBeUndefined();
  await expect(connectKube({ kubeconfig: file, context: "nope" })).rejects.toThrow(/context "nope" is not in the kubeconfig/);
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = join(dir, "config");
  try {
    const viaEnv = await client("", "test");
    expect(await viaEnv.list(secrets)).toHaveProperty("items");
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});

test("client certificate auth", async () => {
  const kube = await client(await server.clientCertKubeconfigYaml());
  expect((await kube.list(secrets)).items.length).toBeGreaterThan(0);
});

test("exec plugin auth: the plugin's token is sent", async () => {
  const plugin = join(dir, "credential-plugin.sh");
  writeFileSync(
    plugin,
    `#!/bin/sh\nprintf '%s' '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"${server.token}"}}'\n`,
  );
  chmodSync(plugin, 0o755);
  const yaml = server.kubeconfigYaml.replace(
    /    token: .*/,
    ["    exec:", "      apiVersion: client.authentication.k8s.io/v1beta1", `      command: ${plugin}`, "      interactiveMode: Never"].join("\n"),
  );
  const kube = await client(yaml);
  expect((await kube.list(secrets)).items.length).toBeGreaterThan(0);
});

test("watch streams events until aborted; logs are read", async () => {
  const kube = await client(server.kubeconfigYaml);
  const pods = apiPath({ apiVersion: "v1", resource: "pods", namespace: "d8-system" });
  server.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "p1", namespace: "d8-system", labels: { "job-name": "j" } } });
  server.setPodLog("d8-system", "p1", "one\ntwo\nthree\n");
  const seen: string[] = [];
  const abort = new AbortController();
  const watching = kube.watch(pods, { labelSelector: "job-name=j" }, (type, object) => {
    seen.push(`${type} ${object.metadata.name}`);
    if (seen.length === 1) server.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "p1", namespace: "d8-system", labels: { "job-name": "j" } }, status: { phase: "Running" } });
    if (seen.length === 2) abort.abort();
  }, abort.signal);
  await expect(watching).rejects.toThrow();
  expect(seen).toEqual(["ADDED p1", "MODIFIED p1"]);
  expect(await kube.logs("d8-system", "p1", { tailLines: "2" })).toBe("two\nthree\n");
  expect(await kube.logs("d8-system", "gone")).toBe("");
});
