// The copy run end to end with real parts: the test plays the Kubernetes provider (it creates the Secret, the
// ConfigMap with the real bundled copier and the Job the program declares) on the loopback Kubernetes API test
// server, and the kubelet: it runs the Job's own command (the bundle from the ConfigMap, the Secret's files as
// /config, env from the Secret) between two real registries on 127.0.0.1. CopyRun waits, relays and cleans up.
// The API server is a simulation, not a cluster; the registries and the copier are real, checked with skopeo.
import { imagesListDigest } from "../../copier";
import { loadCopierBundle } from "../../components/copier-job/bundle-file";
import { FAILURE_MESSAGE, makeCopyRunProvider, SUCCESS_MESSAGE, type CopyRunOutputs } from "../../components/copy/run-provider";
import { sourceRepoConfig } from "../../components/copy/registry-credentials";
import { countLoggedRequests, removeDir, tempDir, verifyCopiedRelease } from "../helpers/copy-fixture";
import { startCopyKubelet, type CopyKubelet } from "../helpers/copy-kubelet";
import { deckhouseRegistryData } from "../helpers/deckhouse-registry-secret";
import { applyCopyRunObjects } from "../helpers/copy-run-objects";
import { seedRelease, type SeededRelease } from "../helpers/images";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { startRegistry, type TestRegistry } from "../helpers/registry";

let kube: KubeApiServer;
let source: TestRegistry;
let target: TestRegistry;
let release: SeededRelease;
let work: string;
let bundle: string;
let kubelet: CopyKubelet | undefined;
/** The list file the Deckhouse image carries (an older release has only images_tags.json). */
let releaseListFile: "images_digests.json" | "images_tags.json" = "images_digests.json";


beforeAll(async () => {
  [kube, source, target] = await Promise.all([
    startKubeApiServer(),
    startRegistry({ tls: true, auth: "token", password: 'd8:src"pw' }),
    startRegistry({ tls: true, auth: "basic", password: 'cust:dst"pw' }),
  ]);
  release = await seedRelease(source, "deckhouse/ee", { tagged: 2, digestOnly: 1, multiArch: 1, seed: "copy-run-e2e" });
  work = tempDir("copy-run-e2e");
  bundle = loadCopierBundle();
  kubelet = startCopyKubelet(kube, { work, releaseImages: () => release.images, releaseListFile: () => releaseListFile });
});

afterAll(async () => {
  kubelet?.stop();
  await Promise.all([kube?.stop(), source?.stop(), target?.stop()]);
  removeDir(work);
});

/** What `pulumi up` creates before CopyRun starts: the Secret, the ConfigMap with the real bundle, the Job. */
function applyRun(runId: string, targetPassword = target.password as string) {
  return applyCopyRunObjects(kube.kubeconfigYaml, {
    runId,
    target: { username: target.username, password: targetPassword, insecure: false, image: target.ref("customer/deckhouse:rock-solid-e2e"), ca: target.caPem },
    source: sourceRepoConfig(deckhouseRegistryData({ host: source.host, username: source.username as string, password: source.password as string, ca: source.caPem }), release.deckhouseImage),
    copierBundle: bundle,
  });
}

async function provider(lines: string[]) {
  const p = makeCopyRunProvider({ log: (line) => lines.push(line), logPollMs: 100, rewatchDelayMs: 50 });
  await p.configure!({ config: { get: (k: string) => (k === "kubernetes:kubeconfig" ? kube.kubeconfigYaml : undefined), require: () => "" } });
  return p;
}

const leftovers = () => [...["Secret", "ConfigMap", "Pod"].flatMap((kind) => kube.list("v1", kind, "d8-system")), ...kube.list("batch/v1", "Job", "d8-system")].map((o) => `${o.kind}/${o.metadata.name}`);

test("a run copies the whole release into the target, verified with skopeo, records the digests, then cleans up", async () => {
  const lines: string[] = [];
  const p = await provider(lines);
  const outs = (await p.create!(await applyRun("e2e-1"))).outs as CopyRunOutputs;
  expect(outs.status).toBe("succeeded");
  expect(outs.summary).toMatchObject({ images: release.references.length, failed: 0, target: target.ref("customer/deckhouse:rock-solid-e2e"), verificationOnly: false });
  expect(outs.summary!.copied + outs.summary!.skipped).toBe(release.references.length);
  // what the switch stack ties itself to: the release that ran, as the source registry resolved it, and the list
  expect(outs.summary).toMatchObject({ source: release.deckhouseImage, sourceDigest: release.deckhouseDigest, imagesDigest: imagesListDigest(release.images) });
  expect(lines).toContain(SUCCESS_MESSAGE);
  expect(lines.some((l) => l.startsWith("images-copier result: "))).toBe(true);
  const check = await verifyCopiedRelease(target, "customer/deckhouse", "customer/deckhouse:rock-solid-e2e", release);
  expect(check.problems).toEqual([]);
  expect(leftovers()).toEqual([]);
});

test("the objects recreated for the same release (pulumi refresh, then up): a verification run that copies nothing and says so; the init container finds an older release's images_tags.json", async () => {
  releaseListFile = "images_tags.json";
  const lines: string[] = [];
  const p = await provider(lines);
  const writes = () => countLoggedRequests(target, /^(PUT|POST|PATCH|DELETE)$/);
  const writesBefore = writes();
  const outs = (await p.create!(await applyRun("e2e-1"))).outs as CopyRunOutputs;
  expect(writes()).toBe(writesBefore); // nothing at all was written to the target
  expect(outs.summary).toMatchObject({ images: release.references.length, copied: 0, skipped: release.references.length, bytes: 0, verificationOnly: true, sourceDigest: release.deckhouseDigest });
  expect(lines).toContain(`images-copier: verification run: all ${release.references.length} images were already in the target with the source's digests; nothing was copied`);
  expect((await verifyCopiedRelease(target, "customer/deckhouse", "customer/deckhouse:rock-solid-e2e", release)).problems).toEqual([]);
  expect(leftovers()).toEqual([]);
  releaseListFile = "images_digests.json";
});

test("a wrong target password fails the run with the copier's own error line; everything is kept until destroy", async () => {
  const lines: string[] = [];
  const p = await provider(lines);
  const inputs = await applyRun("e2e-2", "wrong-password");
  const error = (await p.create!(inputs).catch((e: unknown) => e)) as Error & { properties?: CopyRunOutputs };
  expect(error.message.startsWith(FAILURE_MESSAGE)).toBe(true);
  expect(error.message).toMatch(/images-copier: error: .*/);
  expect(error.message).not.toContain("wrong-password");
  expect(error.message).not.toContain(source.password as string);
  expect(lines.join("\n")).not.toContain("wrong-password");
  expect(leftovers().map((o) => o.split("/")[0]).sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
  // destroy: CopyRun's delete takes the Job (Pods first); the Secret and ConfigMap go with their own resources
  await p.delete!("d8-system/copy-images/e2e-2", error.properties!);
  expect(leftovers().map((o) => o.split("/")[0]).sort()).toEqual(["ConfigMap", "Secret"]);
});
