// The copy stack's lifecycle under the real Pulumi runtime: the project's own index.ts run by cmd/run, CopyRun and
// CopierBundle in the real dynamic-provider host, driven by the suite's engine stand-in (its step logic and its
// Kubernetes provider are simulations, see docs/testing.md). The Kubernetes API test server is a simulation of the API,
// not a cluster; the test plays the kubelet, which runs the Job's own command: the real bundled copier, between two
// real registries on 127.0.0.1, checked with skopeo. Deleted Pods take a while to shut down, as on a node. One stack,
// in order: up, up again, a new runId, refresh then up, a failing run, a re-run after it (the replace chain in the
// engine's order), an up interrupted while the Job runs and recovered, a retry with the same config after a
// failure, destroy; then a Deckhouse before v1.51, refused. The stack runs as a user with
// exactly the RBAC rules of docs/permissions/copy-stack.yaml (enforced by the test server for the program's own
// client and the dynamic providers); with one rule removed, the preview fails in one line naming it. The cluster runs two modules of
// ModuleSource deckhouse and one of another source, and operator-trivy: the first run copies the two modules (image,
// release image, components) and the four security databases, not the third module. From the new runId on, the
// cluster keeps its registry in the registry module's Direct mode (v1.75: the Deployment names the in-cluster
// registry.d8-system.svc:5001, the vendor's upstream is only in ModuleConfig deckhouse); after destroy, that
// ModuleConfig names the target as a switched cluster's does, and the copy stack refuses.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { imagesListDigest } from "../../copier";
import { copyRecordSchema } from "../../components/copy-record";
import { FAILURE_MESSAGE, SUCCESS_MESSAGE } from "../../components/copy/run-provider";
import { removeDir, tempDir, verifyCopiedRelease } from "../helpers/copy-fixture";
import { startCopyKubelet, type CopyKubelet } from "../helpers/copy-kubelet";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { deckhouseRegistrySecret } from "../helpers/deckhouse-registry-secret";
import { pushImage, pushMultiArch, seedRelease, type SeededRelease } from "../helpers/images";
import { moduleConfig, moduleObject, moduleRelease } from "../helpers/deckhouse-modules";
import { pushModuleImage, pushModuleRelease, pushTrivyDatabase } from "../helpers/module-image";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { addStackOperator, OPERATOR, operatorGrants } from "../helpers/kube-api/stack-operator";
import { findPlaintextSecrets, plainOutputs, PulumiEngine, resourceOf, type RunResult } from "../helpers/pulumi-engine";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { skopeoManifestDigest } from "../helpers/skopeo";

const ROOT = join(__dirname, "..", "..");
const PROXY_PASSWORD = "proxy-Pa55-wd";
const WRONG_PASSWORD = "not-the-Pa55word";

let kube: KubeApiServer;
let source: TestRegistry;
let target: TestRegistry;
let release: SeededRelease;
let kubelet: CopyKubelet;
let work: string;
let engine: PulumiEngine;
let sensitive: string[];
/** Every image a run copies: the release, the two modules (image, release image, components), the databases. */
let total: number;
const moduleDigests: Record<string, string> = {};
const DATABASES = ["trivy-db:2", "trivy-bdu:1", "trivy-java-db:1", "trivy-checks:0"];

const TARGET_REPO = "customer/deckhouse";
const TARGET_TAG = "rock-solid-1.58";
let operatorToken: string;

const IN_CLUSTER = "registry.d8-system.svc:5001";

function deckhouse(version: string, image = release.deckhouseImage) {
  return deckhouseDeployment({
    containers: [
      {
        name: "deckhouse",
        image,
        // loopback is always reached directly, so this proxy is never used; its password must never show anywhere
        env: [{ name: "HTTPS_PROXY", value: `http://proxy-user:${PROXY_PASSWORD}@squid.corp.invalid:3128` }],
      },
    ],
    annotations: { "core.deckhouse.io/version": version },
  }) as never;
}

beforeAll(async () => {
  [kube, source, target] = await Promise.all([
    startKubeApiServer({ podTerminationMs: 1000 }),
    startRegistry({ tls: true, auth: "token", username: "license-token", password: 'd8:src"pw' }),
    startRegistry({ tls: true, auth: "basic", password: 'cust:dst"pw' }),
  ]);
  release = await seedRelease(source, "deckhouse/ee", { tagged: 2, digestOnly: 1, multiArch: 1, deckhouseTag: "v1.58.3", seed: "copy-stack-engine" });
  const modules = "deckhouse/ee/modules";
  const backend = await pushImage(source, `${modules}/console`, { format: "docker", seed: "engine-console-backend", layers: [{ size: 8192, seed: "engine-console-backend" }] });
  const frontend = await pushMultiArch(source, `${modules}/console`, { format: "oci", seed: "engine-console-frontend", layers: [{ size: 4096, seed: "engine-console-frontend" }] });
  const agent = await pushImage(source, `${modules}/stronghold`, { format: "oci", seed: "engine-stronghold", layers: [{ size: 4096, seed: "engine-stronghold" }] });
  Object.assign(moduleDigests, {
    "console@backend": backend.digest,
    "console@frontend": frontend.digest,
    "stronghold@agent": agent.digest,
    "console:v1.2.3": (await pushModuleImage(source, modules, "console", "v1.2.3", { console: { backend: backend.digest, frontend: frontend.digest } })).digest,
    "console/release:early-access": (await pushModuleRelease(source, modules, "console", "v1.2.3", "early-access")).digest,
    "stronghold:v0.5.0": (await pushModuleImage(source, modules, "stronghold", "v0.5.0", { agent: agent.digest })).digest,
    "stronghold/release:stable": (await pushModuleRelease(source, modules, "stronghold", "v0.5.0", "stable")).digest,
  });
  for (const db of DATABASES) moduleDigests[`security/${db}`] = (await pushTrivyDatabase(source, `deckhouse/ee/security/${db.split(":")[0]}`, db.split(":")[1])).digest;
  for (const object of [
    moduleRelease("console", "v1.2.3"),
    moduleRelease("stronghold", "v0.5.0"),
    moduleRelease("partner-thing", "v3.0.0", { source: "partner" }),
    moduleObject("console", { releaseChannel: "EarlyAccess" }),
    moduleConfig("operator-trivy", { enabled: true }),
  ])
    kube.put(object);
  total = release.references.length + 4 + 3 + DATABASES.length;
  work = tempDir("copy-stack-engine");
  kubelet = startCopyKubelet(kube, { work, releaseImages: () => release.images });
  kube.put(deckhouseRegistrySecret({ host: source.host, username: source.username as string, password: source.password as string, ca: source.caPem }));
  kube.put(deckhouse("v1.58.3"));
  operatorToken = addStackOperator(kube, "copy-stack");
  engine = new PulumiEngine({
    programDir: ROOT,
    stack: "customer-a-copy",
    kube,
    config: {
      stage: "copy",
      targetImage: target.ref(`${TARGET_REPO}:${TARGET_TAG}`),
      targetUsername: target.username as string,
      targetPassword: { secret: target.password as string },
      targetCA: target.caPem as string,
      "kubernetes:kubeconfig": { secret: kube.kubeconfigFor(operatorToken) },
    },
  });
  sensitive = [target.password as string, source.password as string, WRONG_PASSWORD, PROXY_PASSWORD, kube.token, operatorToken];
});

afterAll(async () => {
  kubelet?.stop();
  await Promise.all([kube?.stop(), source?.stop(), target?.stop()]);
  removeDir(work);
});

const ops = (r: RunResult) => Object.fromEntries(r.steps.filter((s) => !s.urn.includes("pulumi:providers")).map((s) => [s.urn.split("::").pop(), s.op]));
const runObjects = () => [...["Secret", "ConfigMap", "Pod"].flatMap((kind) => kube.list("v1", kind, "d8-system").filter((o) => o.metadata.name !== "deckhouse-registry")), ...kube.list("batch/v1", "Job", "d8-system")].map((o) => o.kind).sort();
const providerLines = (r: RunResult) => r.diagnostics.filter((d) => d.source === "provider-host").map((d) => d.message);
const copyOf = (r: RunResult) => copyRecordSchema.parse(plainOutputs(r).copy);
const noPlaintext = (r: RunResult) => expect(findPlaintextSecrets(r, sensitive)).toEqual([]);
/** d8-repo.json as the last copy pod got it (the kubelet keeps each pod's mounted files in its work directory). */
function lastSourceConfig(): Record<string, unknown> {
  const dirs = readdirSync(work)
    .map((name) => join(work, name, "config", "d8-repo.json"))
    .filter((file) => statSync(file, { throwIfNoEntry: false }) !== undefined)
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  return JSON.parse(readFileSync(dirs[dirs.length - 1], "utf8"));
}
const originalTag = () => `${TARGET_REPO}:${release.deckhouseImage.split(":").pop()}`;

/** Waits (bounded) for a condition of the test server or the kubelet. */
async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; !condition(); i++) {
    if (Date.now() > deadline || i > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("up: the Job runs the real copier, succeeds, and Job, Pods, Secret and ConfigMap are gone; the copy record is complete", async () => {
  const up = await engine.up();
  expect(up.error).toBeUndefined();
  expect(ops(up)).toMatchObject({ "images-copier-config": "create", "copier-bundle": "create", "copy-images": "create", "copy-run": "create" });
  expect(kubelet.started).toBe(1);
  expect(runObjects()).toEqual([]);
  // every request of the program and its providers came as the operator, and RBAC refused none
  const requests = kube.requests.filter((r) => r.attributes);
  expect(new Set(requests.map((r) => r.user))).toEqual(new Set([OPERATOR]));
  expect(requests.filter((r) => r.code === 403)).toEqual([]);
  expect(requests.map((r) => r.attributes?.verb)).toEqual(expect.arrayContaining(["get", "create", "watch", "list", "delete"]));
  expect(providerLines(up)).toContain(SUCCESS_MESSAGE);
  expect(providerLines(up).some((l) => l.startsWith("images-copier progress: ") || l.startsWith("images-copier result: "))).toBe(true);
  expect(copyOf(up)).toMatchObject({
    status: "succeeded",
    verified: true,
    runId: "1",
    sourceImage: release.deckhouseImage,
    sourceDigest: release.deckhouseDigest,
    sourceRepository: `${source.host}/deckhouse/ee`,
    imagesDigest: imagesListDigest(release.images),
    deckhouseVersion: "v1.58.3",
    images: total,
    modules: [
      { name: "console", version: "v1.2.3" },
      { name: "stronghold", version: "v0.5.0" },
    ],
    securityDatabases: true,
    registryPath: "legacy",
    originalTagImage: target.ref(originalTag()),
  });
  expect(copyOf(up).groups).toMatchObject({ modules: { images: 7, copied: 7, failed: 0 }, security: { images: 4, copied: 4 }, deckhouse: { images: 1 } });
  expect((await verifyCopiedRelease(target, TARGET_REPO, `${TARGET_REPO}:${TARGET_TAG}`, release)).problems).toEqual([]);
  // the two modules of source deckhouse and the databases, as the source has them; not the partner's module
  const at = (key: string) => key.replace(/@(\w+)$/, (_m, part: string) => `@${moduleDigests[key]}`);
  for (const key of Object.keys(moduleDigests)) {
    const ref = key.startsWith("security/") ? `${TARGET_REPO}/${key}` : `${TARGET_REPO}/modules/${at(key)}`;
    expect({ ref, digest: await skopeoManifestDigest(target, ref) }).toEqual({ ref, digest: moduleDigests[key] });
  }
  expect(providerLines(up).join("\n")).not.toContain("partner-thing");
  // the Deckhouse image under its own tag too, which Deckhouse renders once the registry changed: the same digest
  expect(await skopeoManifestDigest(target, originalTag())).toBe(release.deckhouseDigest);
  noPlaintext(up);
});

test("up again: nothing changed, nothing runs", async () => {
  const again = await engine.up();
  expect(again.error).toBeUndefined();
  expect(ops(again)).toMatchObject({ "images-copier-config": "same", "copier-bundle": "same", "copy-images": "same", "copy-run": "same" });
  expect(kubelet.started).toBe(1);
  expect(runObjects()).toEqual([]);
  noPlaintext(again);
});

test("a new runId on v1.75 in registry mode Direct: the source is the ModuleConfig's upstream, the objects are replaced together and a fresh run moves nothing", async () => {
  // what Deckhouse shows in Direct: the Deployment and deckhouse-registry name the in-cluster registry
  kube.put(deckhouse("v1.75.3", `${IN_CLUSTER}/system/deckhouse:${release.deckhouseImage.split(":").pop()}`));
  kube.put(deckhouseRegistrySecret({ host: IN_CLUSTER, path: "/system/deckhouse", username: source.username as string, password: source.password as string }));
  kube.put({
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "ModuleConfig",
    metadata: { name: "deckhouse" },
    spec: { version: 1, settings: { registry: { mode: "Direct", direct: { imagesRepo: `${source.host}/deckhouse/ee`, license: source.password, scheme: "HTTPS", ca: source.caPem } } } },
  });
  kube.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "Module", metadata: { name: "registry" }, status: { conditions: [{ type: "EnabledByModuleManager", status: "True" }] } });
  engine.setConfig({ runId: "2" });
  const rerun = await engine.up();
  expect(rerun.error).toBeUndefined();
  expect(ops(rerun)).toMatchObject({ "images-copier-config": "replace", "copier-bundle": "replace", "copy-images": "replace", "copy-run": "replace" });
  expect(kubelet.started).toBe(2);
  // the copier read the vendor's upstream as the ModuleConfig names it: license-token and the license
  const d8repo = lastSourceConfig();
  expect(d8repo).toMatchObject({ image: release.deckhouseImage, username: "license-token", password: source.password, insecure: false, ca: source.caPem });
  expect(providerLines(rerun)).toContain(`images-copier: verification run: all ${total} images were already in the target with the source's digests; nothing was copied`);
  expect(copyOf(rerun)).toMatchObject({
    status: "succeeded",
    verified: true,
    runId: "2",
    copied: 0,
    bytes: 0,
    sourceImage: release.deckhouseImage,
    sourceDigest: release.deckhouseDigest,
    sourceRepository: `${source.host}/deckhouse/ee`,
    registryPath: "Direct",
    deckhouseVersion: "v1.75.3",
  });
  // nothing the copy used or recorded points at the in-cluster address
  expect(JSON.stringify([d8repo, copyOf(rerun), plainOutputs(rerun).sourceImage])).not.toContain(IN_CLUSTER);
  expect(runObjects()).toEqual([]);
  noPlaintext(rerun);
});

test("refresh keeps the run's record and starts nothing; the next up recreates the objects: a verification run", async () => {
  const refresh = await engine.refresh();
  expect(refresh.error).toBeUndefined();
  // the Secret, ConfigMap and Job a success deleted leave the state; the finished run is history and stays
  expect(ops(refresh)).toMatchObject({ "images-copier-config": "delete", "copier-bundle": "delete", "copy-images": "delete", "copy-run": "refresh" });
  expect(refresh.state.resources.find((r) => r.name === "copy-run")?.outputs.status).toBe("succeeded");
  expect(kubelet.started).toBe(2);
  noPlaintext(refresh);

  const up = await engine.up();
  expect(up.error).toBeUndefined();
  expect(ops(up)).toMatchObject({ "images-copier-config": "create", "copier-bundle": "create", "copy-images": "create", "copy-run": "replace" });
  expect(kubelet.started).toBe(3);
  expect(copyOf(up)).toMatchObject({ status: "succeeded", copied: 0, bytes: 0 });
  expect(runObjects()).toEqual([]);
  noPlaintext(up);
});

test("a failing run: everything kept, the hook's failure message and the log tail", async () => {
  engine.setConfig({ targetPassword: { secret: WRONG_PASSWORD } });
  const failed = await engine.up();
  expect(failed.error).toBe(FAILURE_MESSAGE);
  expect(failed.errorDetail).toMatch(/Job d8-system\/copy-images: BackoffLimitExceeded: Job has reached the specified backoff limit\. Job, Pod and Secret images-copier-config are kept/);
  expect(failed.errorDetail).toMatch(/Last lines of pod copy-images-\w+:\n(.*\n)*images-copier: error: /);
  expect(runObjects()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
  const record = failed.state.resources.find((r) => r.name === "copy-run");
  expect(record?.initErrors?.[0]).toMatch(new RegExp(`^${FAILURE_MESSAGE}`));
  expect(record?.outputs.status).toBe("failed");
  noPlaintext(failed);
});

test("the cause fixed, up again: a re-run finishes what is missing and cleans up", async () => {
  engine.setConfig({ targetPassword: { secret: target.password as string } });
  // what is left of the failed run when the Kubernetes provider deletes the Job (its own delete step, after CopyRun's)
  const leftAtJobDelete: string[][] = [];
  const stop = kube.onRequest((r) => {
    if (r.method !== "DELETE" || !r.path.endsWith("/jobs/copy-images") || r.query.propagationPolicy !== "Background") return;
    leftAtJobDelete.push([...kube.list("batch/v1", "Job", "d8-system"), ...kube.list("v1", "Pod", "d8-system")].map((o) => `${o.kind}/${o.metadata.name}`));
  });
  const fixed = await engine.up().finally(stop);
  // CopyRun's delete waited until the failed Job and its Pod were gone (a foreground deletion takes the Pod's shutdown)
  expect(leftAtJobDelete).toEqual([[]]);
  expect(fixed.error).toBeUndefined();
  expect(ops(fixed)).toMatchObject({ "images-copier-config": "replace", "copy-images": "replace", "copy-run": "replace" });
  // the engine's order for a delete-before-replace chain: dependents first, in reverse dependency order, every delete
  // before any create; CopyRun's delete waited for the failed Job's Pod to shut down, so the new Job never met it
  // (the dynamic providers' default provider is updated too: its inputs are the stack config, password included)
  const resourceOps = fixed.operations!.filter((o) => o !== "update default");
  expect(fixed.operations).toContain("update default");
  expect(resourceOps.slice(0, 4)).toEqual(["delete copy-run", "delete copy-images", "delete copier-bundle", "delete images-copier-config"]);
  expect(resourceOps.slice(4, 8)).toEqual(["create images-copier-config", "create copier-bundle", "create copy-images", "create copy-run"]);
  expect(kubelet.overlaps).toBe(0);
  expect(kubelet.started).toBe(5);
  expect(copyOf(fixed)).toMatchObject({ status: "succeeded", verified: true, runId: "2" });
  expect(runObjects()).toEqual([]);
  noPlaintext(fixed);
});

test("an up interrupted while the Job runs, refresh, then up while it still runs: that up replaces the Job and the run finishes", async () => {
  engine.setConfig({ runId: "3" });
  const release = kubelet.hold();
  const startedBefore = kubelet.started;
  const requestsBefore = kube.requests.length;
  const interrupt = new AbortController();
  const running = engine.up({ interrupt: interrupt.signal });
  // Ctrl-C once CopyRun waits for the Job (it lists the Job's Pods)
  await until("CopyRun waiting", () => kube.requests.slice(requestsBefore).some((r) => r.query.labelSelector === "job-name=copy-images"));
  interrupt.abort();
  const interrupted = await running;
  expect(interrupted.error).toMatch(/interrupted/);
  expect(kubelet.started).toBe(startedBefore + 1);
  expect(interrupted.state.resources.map((r) => r.name)).toEqual(expect.arrayContaining(["images-copier-config", "copier-bundle", "copy-images"]));
  expect(interrupted.state.resources.map((r) => r.name)).not.toContain("copy-run");
  const oldJobUid = kube.get("batch/v1", "Job", "d8-system", "copy-images")!.metadata.uid;

  const refresh = await engine.refresh();
  expect(refresh.error).toBeUndefined();
  expect(ops(refresh)["copy-images"]).toBe("refresh");
  noPlaintext(refresh);

  // the Job still runs: replaceUnready replaces it; its delete frees the name at once (the old Pod shuts down
  // meanwhile), so the new Job is a new object and the new CopyRun follows it to the end
  const recovered = await engine.up();
  expect(recovered.error).toBeUndefined();
  expect(recovered.steps.find((st) => st.urn.endsWith("::copy-images"))).toMatchObject({ op: "replace", replaceKeys: ['.metadata.annotations["pulumi.com/replaceUnready"]'] });
  expect(ops(recovered)["copy-run"]).toBe("create");
  expect(kubelet.started).toBe(startedBefore + 2);
  expect(copyOf(recovered)).toMatchObject({ status: "succeeded", runId: "3", copied: 0 });
  expect(resourceOf(recovered.state, "copy-images")!.outputs.metadata).not.toMatchObject({ uid: oldJobUid });
  release();
  await until("the old Pod gone", () => runObjects().length === 0);
  noPlaintext(recovered);
});

test("destroy: nothing of the stack is left in the cluster or the state; copied images stay", async () => {
  // a failed run's objects are what destroy really has to remove: fail once more first
  engine.setConfig({ targetPassword: { secret: WRONG_PASSWORD } });
  expect((await engine.up()).error).toBe(FAILURE_MESSAGE);
  expect(runObjects()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
  // a retry with the same config: replaceUnready replaces the failed Job (CopyRun with it) and the copier runs again
  const startedBefore = kubelet.started;
  const retry = await engine.up();
  expect(retry.error).toBe(FAILURE_MESSAGE);
  expect(ops(retry)).toMatchObject({ "images-copier-config": "same", "copy-images": "replace", "copy-run": "replace" });
  expect(retry.operations!.slice(0, 2)).toEqual(["delete copy-run", "delete copy-images"]);
  expect(kubelet.started).toBe(startedBefore + 1);
  expect(runObjects()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
  noPlaintext(retry);
  const destroy = await engine.destroy();
  expect(destroy.error).toBeUndefined();
  expect(runObjects()).toEqual([]);
  expect(destroy.state.resources).toEqual([]);
  expect(kube.get("apps/v1", "Deployment", "d8-system", "deckhouse")).toBeDefined();
  expect((await verifyCopiedRelease(target, TARGET_REPO, `${TARGET_REPO}:${TARGET_TAG}`, release)).problems).toEqual([]);
  noPlaintext(destroy);
});

test("the copy stack against a switched cluster (Direct's imagesRepo now the target): preview refuses in one line; nothing is declared", async () => {
  const config = kube.get("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse") as any;
  const switched = { ...config.spec.settings.registry.direct, imagesRepo: target.ref(TARGET_REPO), license: undefined, username: target.username, password: target.password };
  kube.put({ ...config, spec: { ...config.spec, settings: { registry: { mode: "Direct", direct: switched } } } });
  const run = await engine.preview();
  const refusal =
    `images-copier: refusing to copy: ModuleConfig deckhouse already has imagesRepo "${target.ref(TARGET_REPO)}", the target repository; ` +
    "the cluster was switched already; to copy a release again, first switch back (`pulumi destroy` on the switch stack), or keep the copy stack's last record as it is";
  expect(run.error).toBe(refusal);
  expect(run.errorDetail).toBe(refusal);
  expect(run.steps.map((s) => s.type)).toEqual(["pulumi:pulumi:Stack"]);
  expect(runObjects()).toEqual([]);
  expect(kubelet.started).toBe(9); // no new run since destroy
  noPlaintext(run);
});

// The refusal runs before anything is declared, the same code in preview and update (the mock tests cover both modes).
test("a Deckhouse before v1.51: preview refuses in one line; nothing is declared or created", async () => {
  kube.put(deckhouse("v1.46.3"));
  const refusal =
    "images-copier: refusing to copy: Deckhouse v1.46.3 (annotation core.deckhouse.io/version of d8-system/deckhouse) still runs its own images-copier hook, " +
    "which takes over Secret d8-system/images-copier-config and Job d8-system/copy-images (releases before v1.51); update Deckhouse to v1.51 or later first";
  const run = await engine.preview();
  expect(run.error).toBe(refusal);
  expect(run.errorDetail).toBe(refusal); // the whole report is that one line: no stack trace, no prefixes
  expect(run.steps.map((s) => s.type)).toEqual(["pulumi:pulumi:Stack"]);
  expect(run.state.resources.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  expect(runObjects()).toEqual([]);
  expect(kubelet.started).toBe(9);
});

test("RBAC with one rule of docs/permissions/copy-stack.yaml removed: the preview fails in one line naming the missing permission", async () => {
  kube.put(deckhouse("v1.58.3"));
  const rules = operatorGrants("copy-stack");
  kube.setGrants(OPERATOR, rules.map((g) => ({ ...g, rules: g.rules.filter((r) => !r.resourceNames?.includes("deckhouse-registry")) })));
  try {
    const run = await engine.preview();
    expect(run.error).toContain('secrets "deckhouse-registry" is forbidden: User "images-copier-operator" cannot get resource "secrets" in API group "" in the namespace "d8-system"');
    expect(run.error).not.toContain("\n");
    expect(runObjects()).toEqual([]);
  } finally {
    kube.setGrants(OPERATOR, rules);
  }
});
