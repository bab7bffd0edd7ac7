// The CopierBundle dynamic provider against the loopback Kubernetes API test server (a simulation of the API, not a
// cluster): the bundled copier goes into a ConfigMap named by its digest, read from the file the program measured.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCopierBundleProvider, type CopierBundleInputs, type CopierBundleOutputs } from "../../components/copier-job/bundle-provider";
import { bundleConfigMapName } from "../../components/copier-job/pod";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { serializeAndRevive } from "../helpers/serialized-provider";

let server: KubeApiServer;
const work = mkdtempSync(join(tmpdir(), "copy-bundle-"));
const TEXT = "#!/usr/bin/env node\nconsole.log('images-copier');\n";
const SHA = createHash("sha256").update(TEXT).digest("hex");
const FILE = join(work, "images-copier.cjs");

beforeAll(async () => {
  server = await startKubeApiServer();
});
beforeEach(() => {
  writeFileSync(FILE, TEXT);
  for (const o of server.list("v1", "ConfigMap", "d8-system")) server.remove("v1", "ConfigMap", "d8-system", o.metadata.name);
});
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

function inputs(overrides: Partial<CopierBundleInputs> = {}): CopierBundleInputs {
  return { namespace: "d8-system", configMapName: bundleConfigMapName(SHA), path: FILE, sha256: SHA, bytes: Buffer.byteLength(TEXT), labels: { "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier" }, runId: "1", runKey: `sha256:${"9".repeat(64)}`, secretUid: "secret-uid-1", ...overrides };
}

async function configured() {
  const p = makeCopierBundleProvider();
  await p.configure!({ config: { get: (k: string) => (k === "kubernetes:kubeconfig" ? server.kubeconfigYaml : undefined), require: () => "" } });
  return p;
}

test("create: the file's text in an immutable ConfigMap named by its digest, labelled as Deckhouse's; the uid recorded", async () => {
  const p = await configured();
  const { id, outs } = await p.create!(inputs());
  expect(id).toBe(`d8-system/images-copier-bundle-${SHA.slice(0, 12)}`);
  const stored = server.get("v1", "ConfigMap", "d8-system", bundleConfigMapName(SHA))!;
  expect(stored.data).toEqual({ "images-copier.cjs": TEXT });
  expect(stored.immutable).toBe(true);
  expect(stored.metadata.labels).toEqual({ "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier" });
  expect(stored.metadata.annotations).toEqual({ "images-copier.deckhouse.io/run-id": "1", "images-copier.deckhouse.io/run-key": `sha256:${"9".repeat(64)}` });
  expect((outs as CopierBundleOutputs).uid).toBe(stored.metadata.uid);
  expect(JSON.stringify(outs)).not.toContain("images-copier');"); // the text is never an output either
});

test("a bundle rebuilt between the program's run and create() is refused; nothing is created", async () => {
  writeFileSync(FILE, `${TEXT}// rebuilt\n`);
  const p = await configured();
  await expect(p.create!(inputs())).rejects.toThrow(/^images-copier: the copier bundle .*images-copier\.cjs changed while `pulumi up` ran \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\); run it again$/);
  await expect(p.create!(inputs({ path: join(work, "missing.cjs") }))).rejects.toThrow(/cannot read the copier bundle .*missing\.cjs: ENOENT/);
  expect(server.list("v1", "ConfigMap", "d8-system")).toEqual([]);
});

test("diff: another build, run or Secret replaces it (delete first); the same bundle elsewhere on disk changes nothing", async () => {
  const p = await configured();
  const old = { ...inputs(), uid: "u1" };
  expect(await p.diff!("id", old, inputs({ path: "/elsewhere/images-copier.cjs" }))).toEqual({ changes: false, replaces: [], deleteBeforeReplace: true });
  expect(await p.diff!("id", old, inputs({ sha256: "f".repeat(64), configMapName: bundleConfigMapName("f".repeat(64)) }))).toEqual({ changes: true, replaces: ["configMapName", "sha256"], deleteBeforeReplace: true });
  expect((await p.diff!("id", old, inputs({ secretUid: "secret-uid-2" }))).replaces).toEqual(["secretUid"]);
  expect((await p.diff!("id", old, inputs({ runKey: "sha256:other" }))).replaces).toEqual(["runKey"]);
});

test("refresh: kept while its ConfigMap exists; gone (so recreated by the next up) once a run deleted it", async () => {
  const p = await configured();
  const { id, outs } = await p.create!(inputs());
  expect(await p.read!(id, outs as CopierBundleOutputs)).toEqual({ id, props: outs });
  server.remove("v1", "ConfigMap", "d8-system", bundleConfigMapName(SHA));
  expect(await p.read!(id, outs as CopierBundleOutputs)).toEqual({ id: "" });
});

test("delete removes its own ConfigMap only; a leftover of the same name is taken over by create", async () => {
  const p = await configured();
  const first = (await p.create!(inputs())).outs as CopierBundleOutputs;
  // a ConfigMap of the same name that no record owns (an interrupted `pulumi up`): create takes the name
  server.remove("v1", "ConfigMap", "d8-system", bundleConfigMapName(SHA));
  server.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: bundleConfigMapName(SHA), namespace: "d8-system" }, data: { stale: "x" } });
  const second = (await p.create!(inputs({ runId: "2" }))).outs as CopierBundleOutputs;
  expect(server.get("v1", "ConfigMap", "d8-system", bundleConfigMapName(SHA))?.data).toEqual({ "images-copier.cjs": TEXT });
  // the first record's delete leaves the second's ConfigMap alone (uid precondition), the second's removes it
  await p.delete!("id", first);
  expect(server.get("v1", "ConfigMap", "d8-system", bundleConfigMapName(SHA))?.metadata.uid).toBe(second.uid);
  await p.delete!("id", second);
  expect(server.list("v1", "ConfigMap", "d8-system")).toEqual([]);
  await p.delete!("id", second); // already gone: fine
});

test("serialized like the engine does it: npm and node modules required inside, no local require", async () => {
  const serialized = await serializeAndRevive(makeCopierBundleProvider());
  expect(serialized.containsSecrets).toBe(false);
  expect(serialized.text).not.toMatch(/require\("\.\/|require\("\.\.\//);
  const revived = serialized.provider;
  await revived.configure!({ config: { get: (k: string) => (k === "kubernetes:kubeconfig" ? server.kubeconfigYaml : undefined), require: () => "" } });
  // a leftover of the same name: the revived code must recognise the API server's 409 (by the error's name)
  server.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: bundleConfigMapName(SHA), namespace: "d8-system" }, data: { stale: "x" } });
  const { outs } = await revived.create!(inputs());
  expect((outs as CopierBundleOutputs).uid).toBe(server.get("v1", "ConfigMap", "d8-system", bundleConfigMapName(SHA))?.metadata.uid);
  expect(server.get("v1", "ConfigMap", "d8-system", bundleConfigMapName(SHA))?.data).toEqual({ "images-copier.cjs": TEXT });
});
