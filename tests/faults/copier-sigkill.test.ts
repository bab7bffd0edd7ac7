// Runs of the bundled CLI killed with SIGKILL, then started again: early (blobs in, no manifest committed, so the
// target's tag list still answers NAME_UNKNOWN) and late (some images finished). Each re-run uploads exactly the
// blobs the target lacks, counted at the target's proxy and in the registry's own log, and skopeo verifies the
// release. Images are committed as soon as their blobs are in, which is what lets a kill leave whole images.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { copyRelease, type CopyReport } from "../../copier";
import { ensureBundle, runBundle, BUNDLE, ROOT } from "../helpers/bundle";
import { acceptedBlobUploads, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { fixtureClient, type SeededRelease } from "../helpers/images";
import { skopeoDigestOrAbsent } from "../helpers/skopeo";
import { DECKHOUSE_TAG, heldBlobs, releaseBlobSizes, REPO, uploadsThrough, useFaultSetup, type ProxiedRegistry } from "./fault-fixture";

const KILL_TIMEOUT_MS = 90_000;

/** Runs the CLI until `until(stdout)` holds (checked on output and every 100 ms), then kills it with SIGKILL. */
function runAndKill(args: string[], until: (stdout: string) => boolean, timeoutMs: number): Promise<{ killed: boolean; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUNDLE, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let killed = false;
    const check = () => {
      if (!killed && until(stdout)) {
        killed = true;
        child.kill("SIGKILL");
      }
    };
    const poll = setInterval(check, 100);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      check();
    });
    child.stderr.resume();
    child.once("error", reject);
    child.once("close", (_code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ killed: killed && signal === "SIGKILL", stdout });
    });
  });
}

/** The copied count of the last progress line. */
function copiedSoFar(stdout: string): number {
  const copied = [...stdout.matchAll(/images-copier progress: .*\(copied (\d+),/g)].map((m) => Number(m[1]));
  return copied.length > 0 ? copied[copied.length - 1] : 0;
}

describe("a copy killed with SIGKILL and started again", () => {
  const setup = useFaultSetup("sigkill", { tagged: 8, digestOnly: 2, multiArch: 1, layerSize: 192 * 1024, baseLayerSize: 128 * 1024 }, ensureBundle);
  let source: ProxiedRegistry;
  let release: SeededRelease;
  let blobSizes: Map<string, number>;
  beforeAll(async () => {
    ({ source, release } = setup);
    blobSizes = await releaseBlobSizes(source.reg, REPO, release);
  });
  const freshTarget = () => setup.freshTarget();

  function configDir(target: ProxiedRegistry): string {
    const files = { dest: target.repoConfig(`${REPO}:${DECKHOUSE_TAG}`), source: source.repoConfig(`${REPO}:${DECKHOUSE_TAG}`), images: release.images };
    return writeConfigDir(files, mkdtempSync(join(setup.work, "config-")));
  }

  const allImages = () => [...release.entries.map((e) => ({ value: e.value, digest: e.digest })), { value: DECKHOUSE_TAG, digest: release.deckhouseDigest }];

  /**
   * Runs the CLI again with no faults and checks that it moved exactly what the killed run left missing: no blob
   * the target held was downloaded or uploaded again, every other blob was uploaded once, and the bytes sent to the
   * target are those blobs' sizes. Images the killed run finished are reported as skipped.
   */
  async function rerunMovesOnlyMissing(target: ProxiedRegistry, dir: string, held: Set<string>, done: Set<string>): Promise<void> {
    source.proxy.clearFaults();
    source.proxy.resetCounters();
    target.proxy.clearFaults();
    target.proxy.resetCounters();
    const acceptedBefore = acceptedBlobUploads(target.reg).length;
    const reportFile = join(setup.work, `report-${Date.now()}.json`);
    const second = await runBundle(["copy", "--config-dir", dir, "--report", reportFile], { timeoutMs: 90_000 });
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: expect.any(String) });

    const missing = [...blobSizes.keys()].filter((d) => !held.has(d)).sort();
    const uploads = uploadsThrough(target.proxy);
    expect([...uploads.committed].sort()).toEqual(missing);
    expect(uploads.bytes).toBe(missing.reduce((sum, d) => sum + (blobSizes.get(d) as number), 0));
    // the registry's own log agrees: the blobs it accepted during the re-run, each once
    expect(acceptedBlobUploads(target.reg).slice(acceptedBefore).sort()).toEqual(missing);
    const fetched = source.proxy
      .requests()
      .filter((r) => r.method === "GET" && r.kind === "blob")
      .map((r) => r.path.split("/").pop() as string);
    expect(fetched.filter((d) => held.has(d))).toEqual([]);
    expect(fetched.sort()).toEqual(missing);

    const report = JSON.parse(readFileSync(reportFile, "utf8")) as CopyReport;
    const statusByValue = new Map(report.images.map((i) => [i.source.slice(`${source.proxy.host}/${REPO}`.length + 1), i.status]));
    for (const image of allImages()) expect([image.value, statusByValue.get(image.value)]).toEqual([image.value, done.has(image.value) ? "skipped" : "copied"]);
    expect(report.totals).toMatchObject({ skipped: done.size, copied: allImages().length - done.size });

    const check = await verifyCopiedRelease(target.reg, REPO, `${REPO}:${DECKHOUSE_TAG}`, release);
    expect(check.problems).toEqual([]);
  }

  it("killed before any manifest was committed (tag list NAME_UNKNOWN): the re-run uploads only the blobs the target lacks", async () => {
    const target = await freshTarget();
    const dir = configDir(target);
    // no manifest reaches the registry: the run moves blobs, then waits on its first commit until it is killed
    target.proxy.addFault({ method: "PUT", path: /\/manifests\//, fault: { type: "stall", ms: Infinity }, times: Infinity });
    const commitsAttempted = () => target.proxy.requests().filter((r) => r.method === "PUT" && r.kind === "manifest").length;
    const first = await runAndKill(["copy", "--config-dir", dir, "--concurrency", "4"], () => commitsAttempted() > 0, KILL_TIMEOUT_MS);
    expect(first.killed).toBe(true);

    const tagList = await fixtureClient(target.reg).send("GET", REPO, `/v2/${REPO}/tags/list`);
    expect([tagList.status, tagList.body.toString("utf8")]).toEqual([404, expect.stringContaining("NAME_UNKNOWN")]);
    const held = await heldBlobs(target.reg, REPO, blobSizes.keys());
    // an image is committed only once all its blobs are in: at least the first image's four blobs are there
    expect(held.size).toBeGreaterThanOrEqual(4);
    expect(held.size).toBeLessThan(blobSizes.size);

    await rerunMovesOnlyMissing(target, dir, held, new Set());
  });

  it("killed after some images were finished: the re-run skips them and uploads only the blobs the target lacks", async () => {
    const target = await freshTarget();
    const dir = configDir(target);
    // slow blob downloads keep the first run busy long enough to be killed midway
    source.proxy.addFault({ method: "GET", path: /\/blobs\/sha256:/, fault: { type: "throttle", bytesPerSecond: 160 * 1024 }, times: Infinity });
    const first = await runAndKill(["copy", "--config-dir", dir, "--concurrency", "2", "--progress-interval", "1"], (out) => copiedSoFar(out) >= 2, KILL_TIMEOUT_MS);
    expect(first.killed).toBe(true);

    // what the killed run finished: manifests (judged by skopeo) and blobs already in the target
    const done = new Set<string>();
    for (const image of allImages()) {
      const ref = image.value.startsWith("sha256:") ? `${REPO}@${image.value}` : `${REPO}:${image.value}`;
      if ((await skopeoDigestOrAbsent(target.reg, ref)) === image.digest) done.add(image.value);
    }
    expect(done.size).toBeGreaterThanOrEqual(2);
    expect(done.size).toBeLessThan(allImages().length);
    const held = await heldBlobs(target.reg, REPO, blobSizes.keys());

    await rerunMovesOnlyMissing(target, dir, held, done);
  });

  it("commits each image as soon as its blobs are in, earlier images first", async () => {
    const target = await freshTarget();
    // one slot: the order of the target's requests is the order the copier chose
    const report = await copyRelease({
      source: source.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      target: target.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      images: release.images,
      concurrency: 1,
    });
    expect(report.status).toBe("succeeded");
    // the image (by its place in the run) that first needs each blob
    const blobsOf = new Map(release.entries.map((e) => [e.value, e.blobs]));
    const owner = new Map<string, number>();
    report.images.forEach((image, order) => {
      const value = image.source.slice(`${source.proxy.host}/${REPO}`.length + 1);
      // the Deckhouse image, last, needs what no module image needs before it
      const blobs = blobsOf.get(value) ?? [...blobSizes.keys()];
      for (const blob of blobs) if (!owner.has(blob)) owner.set(blob, order);
    });
    // walk the target's requests: a tagged or digest-addressed image's manifest comes right after its last blob
    const events = target.proxy
      .requests()
      .filter((r) => r.method === "PUT" && r.status === 201)
      .map((r) => (r.kind === "upload" ? `blob ${owner.get(new URL(r.path, "http://x").searchParams.get("digest") as string)}` : `manifest ${r.path.split("/").pop()}`));
    // each image's tag or digest in the target
    const images = report.images.map((i) => i.target.slice(`${target.proxy.host}/${REPO}`.length + 1));
    let committed = 0;
    const seen: string[] = [];
    for (const event of events) {
      if (event.startsWith("blob ")) {
        // every blob upload belongs to the next image to commit
        expect([event, committed]).toEqual([`blob ${committed}`, committed]);
        continue;
      }
      const ref = event.slice("manifest ".length);
      seen.push(ref);
      const at = images.indexOf(ref);
      if (at >= 0) {
        expect(at).toBe(committed);
        committed++;
      }
    }
    expect(committed).toBe(images.length);
    expect(seen.length).toBeGreaterThan(images.length); // index children were committed by digest too
  });
});
