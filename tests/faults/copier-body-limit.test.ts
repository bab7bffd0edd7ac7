// A target behind a request-size limit (as Cloudflare answers 413 above 100 MB, scaled down here): the copier
// switches to the spec's chunked uploads, halves the chunks while they are refused, and a real docker-registry
// assembles the Content-Range chunks into blobs that skopeo and a byte-for-byte check find intact.
import { copyRelease, runCli, RESULT_LINE_PREFIX } from "../../copier";
import { startRegistry } from "../helpers/registry";
import { seedRelease, type SeededRelease } from "../helpers/images";
import { captureOutput, lastLine, removeDir, tempDir, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { blobsNotMatching, DECKHOUSE_TAG, proxied, proxiedRegistry, releaseBlobs, REPO, type ProxiedRegistry } from "./fault-fixture";

const MiB = 1024 * 1024;
const LIMIT = 1.25 * MiB;

describe("a target that refuses request bodies above a limit", () => {
  let source: ProxiedRegistry;
  let target: ProxiedRegistry;
  let release: SeededRelease;
  const extra: ProxiedRegistry[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    const reg = await startRegistry();
    source = await proxied(reg);
    release = await seedRelease(reg, REPO, { tagged: 2, digestOnly: 1, multiArch: 1, layerSize: 3 * MiB, baseLayerSize: 2.5 * MiB, seed: "body-limit" });
    target = await proxiedRegistry({ tls: true, auth: "basic" }, { maxBodyBytes: LIMIT });
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop(), ...extra.map((t) => t.stop())]);
    dirs.forEach(removeDir);
  });

  it("copies every image in chunks no larger than the limit, contiguous per upload", async () => {
    const logs: string[] = [];
    const report = await copyRelease({
      source: source.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      target: target.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      images: release.images,
      concurrency: 4,
      logger: (line) => logs.push(line),
      retry: { baseDelayMs: 20, maxDelayMs: 300 },
    });
    expect({ status: report.status, error: report.error }).toEqual({ status: "succeeded", error: undefined });
    expect(logs.filter((l) => l.startsWith("switching to chunked uploads"))).toHaveLength(1);

    const requests = target.proxy.requests();
    const accepted = requests.filter((r) => r.method === "PATCH" && r.status === 202);
    expect(accepted.length).toBeGreaterThan(releaseBlobs(release).length);
    expect(Math.max(...accepted.map((r) => r.bytesIn))).toBeLessThanOrEqual(LIMIT);
    // per upload session, the accepted ranges follow one another from 0
    const bySession = new Map<string, Array<[number, number]>>();
    for (const r of accepted) {
      const session = /\/blobs\/uploads\/([^/?]+)/.exec(r.path)?.[1] ?? "";
      const [start, end] = (r.contentRange ?? "").split("-").map(Number);
      bySession.set(session, [...(bySession.get(session) ?? []), [start, end]]);
    }
    for (const ranges of bySession.values()) {
      ranges.forEach(([start, end], i) => {
        expect(start).toBe(i === 0 ? 0 : ranges[i - 1][1] + 1);
        expect(end - start + 1).toBeLessThanOrEqual(LIMIT);
      });
    }

    const check = await verifyCopiedRelease(target.reg, REPO, `${REPO}:${DECKHOUSE_TAG}`, release);
    expect(check.problems).toEqual([]);
    expect(await blobsNotMatching(target.reg, REPO, releaseBlobs(release))).toEqual([]);
  });

  it("with --chunk-size uploads in chunks from the start: no request is refused", async () => {
    const fresh = await proxiedRegistry({ tls: true, auth: "basic" }, { maxBodyBytes: LIMIT });
    extra.push(fresh);
    const dir = writeConfigDir({
      dest: fresh.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      source: source.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      images: release.images,
    }, tempDir("chunk-size"));
    dirs.push(dir);
    const run = await captureOutput(() => runCli(["copy", "--config-dir", dir, "--chunk-size", "1"]));
    expect({ exit: run.result, stderr: run.stderr }).toEqual({ exit: 0, stderr: expect.not.stringContaining("switching to chunked") });
    expect(JSON.parse(lastLine(run.stdout).slice(RESULT_LINE_PREFIX.length))).toMatchObject({ status: "succeeded", failed: 0 });
    const requests = fresh.proxy.requests();
    expect(requests.filter((r) => r.status === 413)).toEqual([]);
    expect(requests.filter((r) => r.method === "PUT" && r.kind === "upload" && r.bytesIn > 0)).toEqual([]);
    const patches = requests.filter((r) => r.method === "PATCH");
    expect(Math.max(...patches.map((r) => r.bytesIn))).toBe(MiB);
    const check = await verifyCopiedRelease(fresh.reg, REPO, `${REPO}:${DECKHOUSE_TAG}`, release);
    expect(check.problems).toEqual([]);
  });
});
