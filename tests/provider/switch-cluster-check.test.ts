// `checkFrom: cluster` end to end with real parts: the ClusterCheck provider creates its Secret, ConfigMap and Job
// on the Kubernetes API test server (a simulation of the API, not a cluster); the test plays the kubelet by
// running the Job's own command (the real bundled copier's `check`, from the ConfigMap, with the Secret's
// dest-repo.json as /config) against real registries on 127.0.0.1: one with Bearer token auth, one with htpasswd.
import { readFileSync } from "node:fs";
import { makeClusterCheckProvider, type ClusterCheckInputs } from "../../components/switch/cluster-check-provider";
import { ensureBundle } from "../helpers/bundle";
import { removeDir, tempDir } from "../helpers/copy-fixture";
import { pushImage } from "../helpers/images";
import { startCopyKubelet, type CopyKubelet } from "../helpers/copy-kubelet";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
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

function inputs(reg: TestRegistry, references = [`${reg.host}/${REPO}:rock-solid-1.46`, `${reg.host}/${REPO}:${TAG}`]): ClusterCheckInputs {
  const targetImage = `${reg.host}/${REPO}:rock-solid-1.46`;
  return {
    namespace: "d8-system",
    expectations: { references, targetImage, sourceDigest: digests[reg.host] },
    copierImage: "node:20-bookworm-slim",
    bundle,
    target: { username: "client", password: PASSWORD, insecure: false, image: targetImage, ca: reg.caPem },
    proxyEnv: [],
    timeoutSeconds: 60,
    description: "checked in the cluster",
  };
}

async function provider(lines: string[] = []) {
  const p = makeClusterCheckProvider({ log: (line) => lines.push(line), logPollMs: 50, rewatchDelayMs: 50, stuckGraceMs: 300 });
  await configureProvider(p as never, { "kubernetes:kubeconfig": kube.kubeconfigYaml });
  return p;
}

const leftovers = () => [
  ...kube.list("batch/v1", "Job", "d8-system"),
  ...kube.list("v1", "Secret", "d8-system"),
  ...kube.list("v1", "ConfigMap", "d8-system"),
].map((o) => `${o.kind}/${o.metadata.name}`);

describe("ClusterCheck provider: the registry checks from inside the cluster", () => {
  it("passes against a Bearer token registry holding every image, and leaves nothing behind", async () => {
    const lines: string[] = [];
    const created = await (await provider(lines)).create(inputs(token));
    expect(created.outs.checkedAt).toEqual(expect.any(String));
    expect(lines).toContain("images-copier: the target registry passed the check from the cluster (2 image(s) present, Bearer token auth)");
    expect(leftovers()).toEqual([]);
    // it really ran the copier against the registry: the token server issued tokens for it
    expect(token.tokenServer?.issued()).toBeGreaterThan(0);
  });

  it("refuses a basic-auth-only registry with the same one line as the local check, and leaves nothing behind", async () => {
    const p = await provider();
    await expect(p.create(inputs(basic))).rejects.toThrow(
      new RegExp(`^images-copier: refusing to switch: registry ${basic.host.replace(/\./g, "\\.")} answers GET /v2/ with 401 and only "basic" authentication; .* \\(checked from the cluster\\)$`),
    );
    expect(leftovers()).toEqual([]);
  });

  it("names a missing image", async () => {
    const missing = `${token.host}/${REPO}:${"f".repeat(56)}-1650502544871`;
    const p = await provider();
    await expect(p.create(inputs(token, [`${token.host}/${REPO}:rock-solid-1.46`, missing]))).rejects.toThrow(
      `images-copier: refusing to switch: 1 of 2 image(s) are not in the target registry: ${missing} (checked from the cluster)`,
    );
  });

  it("gives no verdict when the copier image holds no copier (copierBundled by mistake): refused with the log, cleaned up", async () => {
    const p = await provider();
    const { bundle: _none, ...bundled } = inputs(token);
    await expect(p.create({ ...bundled, copierImage: "registry.customer.example/tools/node:20" })).rejects.toThrow(
      /^images-copier: refusing to switch: the check Job d8-system\/images-copier-check gave no verdict \(BackoffLimitExceeded: Job has reached the specified backoff limit\); last lines of its log:\n[\s\S]*Cannot find module/,
    );
    expect(leftovers()).toEqual([]);
  });

  it("runs as Pulumi stores it (closure-serialized, no credential in its code) and configured from the stack", async () => {
    const { provider: revived, text } = await serializeAndRevive(makeClusterCheckProvider({ logPollMs: 50, rewatchDelayMs: 50 }));
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(kube.token);
    await configureProvider(revived as never, { "kubernetes:kubeconfig": kube.kubeconfigYaml });
    await expect(revived.create(inputs(token))).resolves.toMatchObject({ id: "d8-system/images-copier-check" });
    expect(leftovers()).toEqual([]);
  });

  it("runs again only when what it checks changes", async () => {
    const p = await provider();
    const olds = { ...inputs(token), checkedAt: "t" };
    expect(await p.diff("id", olds, { ...inputs(token), bundle: "/* rebuilt */" })).toMatchObject({ changes: false, replaces: [] });
    expect(await p.diff("id", olds, inputs(token, [`${token.host}/${REPO}:other`]))).toMatchObject({ changes: true, replaces: ["expectations"], deleteBeforeReplace: true });
    expect(await p.diff("id", olds, { ...inputs(token), target: { ...inputs(token).target, password: "rotated" } })).toMatchObject({ replaces: ["expectations"] });
  });
});
