// `checkFrom: cluster` end to end with real parts: the check's Secret and the copier's ConfigMap are created through
// the API as `pulumi up` creates them (by the program's own builders), then the ClusterCheck provider creates its Job
// on the Kubernetes API test server (a simulation of the API, not a cluster); the test plays the kubelet by
// running the Job's own command (the real bundled copier's `check`, from the ConfigMap, with the Secret's
// dest-repo.json as /config and the proxy variables from the Secret) against real registries on 127.0.0.1: one
// with Bearer token auth, one with htpasswd.
import { readFileSync } from "node:fs";
import { makeClusterCheckProvider, type ClusterCheckInputs } from "../../components/switch/cluster-check-provider";
import { ensureBundle } from "../helpers/bundle";
import { applyCheckObjects } from "../helpers/check-run-objects";
import { removeDir, tempDir } from "../helpers/copy-fixture";
import { pushImage } from "../helpers/images";
import { startCopyKubelet, type CopyKubelet } from "../helpers/copy-kubelet";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { addStackOperator } from "../helpers/kube-api/stack-operator";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { configureProvider, serializeAndRevive } from "../helpers/serialized-provider";

const REPO = "client/deckhouse";
const TAG = `${"e".repeat(56)}-1650502544870`;
const PASSWORD = 'p"a:ss-Cluster';

let kube: KubeApiServer;
let token: TestRegistry;
let basic: TestRegistry;
let kubelet: CopyKubelet;
let work: string;
let bundle: string;
const digests: Record<string, string> = {};

beforeAll(async () => {
  [kube, token, basic] = await Promise.all([
    startKubeApiServer(),
    startRegistry({ tls: true, auth: "token", username: "client", password: PASSWORD }),
    startRegistry({ tls: true, auth: "basic", username: "client", password: PASSWORD }),
  ]);
  bundle = readFileSync(await ensureBundle(), "utf8");
  for (const reg of [token, basic]) {
    const layers = [{ size: 2048, seed: "cluster-check" }];
    digests[reg.host] = (await pushImage(reg, REPO, { format: "docker", seed: "deckhouse", layers }, "rock-solid-1.46")).digest;
    await pushImage(reg, REPO, { format: "oci", seed: "module", layers }, TAG);
  }
  work = tempDir("switch-cluster-check");
  kubelet = startCopyKubelet(kube, { work, releaseImages: () => ({}) });
}, 120_000);

afterAll(async () => {
  kubelet?.stop();
  await Promise.all([kube?.stop(), token?.stop(), basic?.stop()]);
  removeDir(work);
});

/** The check's objects in the cluster, and ClusterCheck's inputs for them. */
function inputs(reg: TestRegistry, references = [`${reg.host}/${REPO}:rock-solid-1.46`, `${reg.host}/${REPO}:${TAG}`], copierBundle: string | null = bundle): Promise<ClusterCheckInputs> {
  const targetImage = `${reg.host}/${REPO}:rock-solid-1.46`;
  return applyCheckObjects(kube.kubeconfigYaml, {
    expectations: { references, targetImage, sourceDigest: digests[reg.host] },
    target: { username: "client", password: PASSWORD, insecure: false, image: targetImage, ca: reg.caPem },
    copierBundle,
    // a literal value: the Job gets it from the check's Secret (secretKeyRef), as the copy Job does
    proxyEnv: [{ name: "NO_PROXY", value: "127.0.0.1,localhost" }],
  });
}

async function provider(lines: string[] = []) {
  const p = makeClusterCheckProvider({ log: (line) => lines.push(line), logPollMs: 50, rewatchDelayMs: 50, stuckGraceMs: 300 });
  // the check's provider with exactly the switch stack's RBAC rules (docs/permissions/switch-stack.yaml)
  await configureProvider(p as never, { "kubernetes:kubeconfig": kube.kubeconfigFor(addStackOperator(kube, "switch-stack")) });
  return p;
}

const objects = () =>
  [...kube.list("batch/v1", "Job", "d8-system"), ...kube.list("v1", "Secret", "d8-system"), ...kube.list("v1", "ConfigMap", "d8-system")].map((o) => `${o.kind}/${o.metadata.name}`).sort();
/** The check's own objects (Secret, ConfigMap), as `objects()` names them. */
const own = (checkInputs: ClusterCheckInputs) => checkInputs.objects.map((o) => `${o.resource === "secrets" ? "Secret" : "ConfigMap"}/${o.name}`).sort();

beforeEach(() => {
  // objects a failed check kept (for the next `pulumi up`) belong to that test's stack only
  for (const kind of ["Secret", "ConfigMap"]) for (const o of kube.list("v1", kind, "d8-system")) kube.remove("v1", kind, "d8-system", o.metadata.name);
});

describe("ClusterCheck provider: the registry checks from inside the cluster", () => {
  it("passes against a Bearer token registry holding every image; the Job, the Secret and the ConfigMap are gone afterwards", async () => {
    const lines: string[] = [];
    const checkInputs = await inputs(token);
    expect(own(checkInputs)).toEqual([expect.stringMatching(/^ConfigMap\/images-copier-check-bundle-[0-9a-f]{12}$/), "Secret/images-copier-check-config"]);
    expect(objects()).toEqual(own(checkInputs));
    const created = await (await provider(lines)).create(checkInputs);
    expect(created.outs.checkedAt).toEqual(expect.any(String));
    expect(lines).toContain("images-copier: the target registry passed the check from the cluster (2 image(s) present, Bearer token auth)");
    expect(objects()).toEqual([]);
    // it really ran the copier against the registry: the token server issued tokens for it
    expect(token.tokenServer?.issued()).toBeGreaterThan(0);
  });

  it("refuses a basic-auth-only registry with the same one line as the local check; the Job is removed, its Secret and ConfigMap kept for the next up", async () => {
    const p = await provider();
    const checkInputs = await inputs(basic);
    await expect(p.create(checkInputs)).rejects.toThrow(
      new RegExp(`^images-copier: refusing to switch: registry ${basic.host.replace(/\./g, "\\.")} answers GET /v2/ with 401 and only "basic" authentication; .* \\(checked from the cluster\\)$`),
    );
    expect(objects()).toEqual(own(checkInputs));
  });

  it("names a missing image; once it is pushed, the next up runs the check again with the kept objects and passes", async () => {
    const missingTag = `${"f".repeat(56)}-1650502544871`;
    const missing = `${token.host}/${REPO}:${missingTag}`;
    const p = await provider();
    const checkInputs = await inputs(token, [`${token.host}/${REPO}:rock-solid-1.46`, missing]);
    await expect(p.create(checkInputs)).rejects.toThrow(`images-copier: refusing to switch: 1 of 2 image(s) are not in the target registry: ${missing} (checked from the cluster)`);
    await pushImage(token, REPO, { format: "oci", seed: "late-module", layers: [{ size: 1024, seed: "late" }] }, missingTag);
    await expect(p.create(checkInputs)).resolves.toMatchObject({ id: "d8-system/images-copier-check" });
    expect(objects()).toEqual([]);
  });

  it("gives no verdict when the copier image holds no copier (copierBundled by mistake): refused with the log, the Job removed", async () => {
    const p = await provider();
    const checkInputs = await inputs(token, undefined, null);
    expect(checkInputs.job.spec?.template.spec?.volumes?.map((v) => v.name)).toEqual(["config", "tmp"]);
    await expect(p.create(checkInputs)).rejects.toThrow(
      /^images-copier: refusing to switch: the check Job d8-system\/images-copier-check gave no verdict \(BackoffLimitExceeded: Job has reached the specified backoff limit\); last lines of its log:\n[\s\S]*Cannot find module/,
    );
    expect(objects()).toEqual(["Secret/images-copier-check-config"]);
  });

  it("runs as Pulumi stores it (closure-serialized, no credential in its code) and configured from the stack", async () => {
    const { provider: revived, text } = await serializeAndRevive(makeClusterCheckProvider({ logPollMs: 50, rewatchDelayMs: 50 }));
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(kube.token);
    await configureProvider(revived as never, { "kubernetes:kubeconfig": kube.kubeconfigFor(addStackOperator(kube, "switch-stack")) });
    const checkInputs = await inputs(token);
    // no input holds a credential: the target's access is only in the check's Secret
    expect(JSON.stringify(checkInputs)).not.toContain(PASSWORD.slice(0, 6));
    await expect(revived.create(checkInputs)).resolves.toMatchObject({ id: "d8-system/images-copier-check" });
    expect(objects()).toEqual([]);
  });

  it("runs again only as another check: another Job (run key, objects' uids) or other expectations; new words alone are an update", async () => {
    const p = await provider();
    const checkInputs = await inputs(token);
    const olds = { ...checkInputs, checkedAt: "t" };
    expect(await p.diff("id", olds, JSON.parse(JSON.stringify(checkInputs)))).toMatchObject({ changes: false, replaces: [] });
    expect(await p.diff("id", olds, { ...checkInputs, description: "other words" })).toMatchObject({ changes: true, replaces: [] });
    const recreated = { ...checkInputs, objects: checkInputs.objects.map((o) => ({ ...o, uid: `${o.uid}-new` })) };
    expect(await p.diff("id", olds, recreated)).toMatchObject({ changes: true, replaces: ["job"], deleteBeforeReplace: true });
    expect(await p.diff("id", olds, { ...checkInputs, expectations: { ...checkInputs.expectations, sourceDigest: `sha256:${"0".repeat(64)}` } })).toMatchObject({ replaces: ["job"] });
  });

  it("delete removes a Job left by an interrupted up; the Secret and ConfigMap are left to their own resources", async () => {
    const checkInputs = await inputs(token);
    kube.put({ ...(checkInputs.job as never as Record<string, any>), metadata: { ...checkInputs.job.metadata, uid: "left-over" } } as never);
    const p = await provider();
    await p.delete("id", { ...checkInputs, checkedAt: "t" });
    expect(objects()).toEqual(own(checkInputs));
  });
});
