// A run of the bundled CLI killed with SIGKILL midway (blob downloads throttled by the proxy so it is still
// busy), then started again: the second run completes, skips every image the first one finished, fetches no
// blob the target already holds, and skopeo verifies the whole release.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBundle, runBundle, BUNDLE, ROOT } from "../helpers/bundle";
import { removeDir, tempDir, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { seedRelease, type SeededRelease } from "../helpers/images";
import { startRegistry } from "../helpers/registry";
import { skopeoDigestOrAbsent } from "../helpers/skopeo";
import { blobPresent, DECKHOUSE_TAG, proxied, proxiedRegistry, releaseBlobs, REPO, type ProxiedRegistry } from "./fault-fixture";

/** Runs the CLI until its progress line reports `minCopied` copied images, then kills it with SIGKILL. */
function runAndKill(args: string[], minCopied: number, timeoutMs: number): Promise<{ killed: boolean; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUNDLE, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let killed = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      const copied = [...stdout.matchAll(/images-copier progress: .*\(copied (\d+),/g)].map((m) => Number(m[1]));
      if (!killed && copied.length > 0 && copied[copied.length - 1] >= minCopied) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.stderr.resume();
    child.once("error", reject);
    child.once("close", (_code, signal) => {
      clearTimeout(timer);
      resolve({ killed: killed && signal === "SIGKILL", stdout });
    });
  });
}

describe("a copy killed with SIGKILL and started again", () => {
  let source: ProxiedRegistry;
  let target: ProxiedRegistry;
  let release: SeededRelease;
  let work: string;

  beforeAll(async () => {
    const reg = await startRegistry();
    source = await proxied(reg);
    [release, target] = await Promise.all([
      seedRelease(reg, REPO, { tagged: 8, digestOnly: 2, multiArch: 1, layerSize: 192 * 1024, baseLayerSize: 128 * 1024, seed: "sigkill" }),
      proxiedRegistry({ tls: true, auth: "basic" }),
      ensureBundle(),
    ]);
    work = tempDir("sigkill");
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    removeDir(work);
  });

  it("moves only what the killed run left missing", async () => {
    const dir = writeConfigDir(
      { dest: target.repoConfig(`${REPO}:${DECKHOUSE_TAG}`), source: source.repoConfig(`${REPO}:${DECKHOUSE_TAG}`), images: release.images },
      mkdtempSync(join(work, "config-")),
    );
    // slow blob downloads keep the first run busy long enough to be killed midway
    source.proxy.addFault({ method: "GET", path: /\/blobs\/sha256:/, fault: { type: "throttle", bytesPerSecond: 160 * 1024 }, times: Infinity });
    const first = await runAndKill(["copy", "--config-dir", dir, "--concurrency", "2", "--progress-interval", "1"], 2, 90_000);
    expect(first.killed).toBe(true);

    // what the killed run finished: manifests (judged by skopeo) and blobs already in the target
    const all = [...release.entries.map((e) => ({ value: e.value, digest: e.digest })), { value: DECKHOUSE_TAG, digest: release.deckhouseDigest }];
    const done = new Set<string>();
    for (const image of all) {
      const ref = image.value.startsWith("sha256:") ? `${REPO}@${image.value}` : `${REPO}:${image.value}`;
      if ((await skopeoDigestOrAbsent(target.reg, ref)) === image.digest) done.add(image.value);
    }
    expect(done.size).toBeGreaterThanOrEqual(2);
    expect(done.size).toBeLessThan(all.length);
    const heldBlobs = new Set<string>();
    for (const digest of releaseBlobs(release)) if (await blobPresent(target.reg, REPO, digest)) heldBlobs.add(digest);

    source.proxy.clearFaults();
    source.proxy.resetCounters();
    const reportFile = join(work, "report.json");
    const second = await runBundle(["copy", "--config-dir", dir, "--report", reportFile], { timeoutMs: 90_000 });
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: expect.any(String) });

    const report = JSON.parse(readFileSync(reportFile, "utf8")) as { images: Array<{ source: string; status: string }>; totals: { copied: number; skipped: number } };
    const statusByValue = new Map(report.images.map((i) => [i.source.slice(`${source.proxy.host}/${REPO}`.length + 1), i.status]));
    for (const image of all) expect([image.value, statusByValue.get(image.value)]).toEqual([image.value, done.has(image.value) ? "skipped" : "copied"]);
    expect(report.totals).toMatchObject({ skipped: done.size, copied: all.length - done.size });

    // no blob the target already held was downloaded again
    const fetched = source.proxy
      .requests()
      .filter((r) => r.method === "GET" && r.kind === "blob")
      .map((r) => r.path.split("/").pop() as string);
    expect(fetched.filter((d) => heldBlobs.has(d))).toEqual([]);
    expect(fetched.length).toBeGreaterThan(0);

    const check = await verifyCopiedRelease(target.reg, REPO, `${REPO}:${DECKHOUSE_TAG}`, release);
    expect(check.problems).toEqual([]);
  });
});
