// A large blob download broken off several times by the fault proxy in front of a real source registry: the copier
// asks for the rest with Range and continues (206), starts the download over when the registry ignores Range
// (200), keeps one upload to the target throughout, and never commits a blob whose resumed bytes differ. The
// bytes each side moved are counted at the proxies, not taken from the copier's report.
import { copyRelease, type CopyReleaseOptions } from "../../copier";
import { verifyCopiedRelease } from "../helpers/copy-fixture";
import {
  blobPresent, blobsNotMatching, DECKHOUSE_TAG, releaseBlobSizes, releaseBlobs, REPO, uniqueLayerOf, useFaultSetup, type ProxiedRegistry,
} from "./fault-fixture";

const MiB = 1024 * 1024;
const LAYER = 4 * MiB;

describe("a blob download broken off midway", () => {
  const setup = useFaultSetup("range", { tagged: 2, digestOnly: 1, multiArch: 0, layerSize: LAYER, baseLayerSize: 64 * 1024 });
  let big: { digest: string; value: string };
  beforeAll(async () => {
    big = uniqueLayerOf(setup.release);
    expect((await releaseBlobSizes(setup.source.reg, REPO, setup.release)).get(big.digest)).toBe(LAYER);
  });
  const freshTarget = () => setup.freshTarget();

  function options(target: ProxiedRegistry, logs: string[]): CopyReleaseOptions {
    return {
      source: setup.source.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      target: target.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      images: setup.release.images,
      concurrency: 4,
      retry: { baseDelayMs: 20, maxDelayMs: 200 },
      logger: (line) => logs.push(line),
    };
  }

  const blobPath = () => new RegExp(`/blobs/${big.digest.replace(":", "\\:")}$`);
  /** The source's answers to GETs of the big blob: the Range asked for, the status, the body bytes sent. */
  const downloads = () =>
    setup.source.proxy
      .requests()
      .filter((r) => r.method === "GET" && blobPath().test(r.path))
      .map((r) => ({ range: r.range, status: r.status, bytes: r.bytesOut }));
  /** The target's uploads of the big blob: request body bytes of each PUT that carried it. */
  const uploadsOfBig = (target: ProxiedRegistry) =>
    target.proxy
      .requests()
      .filter((r) => r.method === "PUT" && r.kind === "upload" && new URL(r.path, "http://x").searchParams.get("digest") === big.digest)
      .map((r) => ({ status: r.status, bytes: r.bytesIn }));

  async function expectComplete(target: ProxiedRegistry, report: Awaited<ReturnType<typeof copyRelease>>): Promise<void> {
    expect({ status: report.status, error: report.error }).toEqual({ status: "succeeded", error: undefined });
    expect((await verifyCopiedRelease(target.reg, REPO, `${REPO}:${DECKHOUSE_TAG}`, setup.release)).problems).toEqual([]);
    expect(await blobsNotMatching(target.reg, REPO, releaseBlobs(setup.release))).toEqual([]);
  }

  it("continues from the last byte received when the registry answers 206, cut three times", async () => {
    const target = await freshTarget();
    const cut = setup.source.proxy.addFault({ method: "GET", path: blobPath(), fault: { type: "reset-response", afterBytes: MiB }, times: 3 });
    const logs: string[] = [];
    const report = await copyRelease(options(target, logs));
    expect(cut.hits).toBe(3);
    await expectComplete(target, report);

    const got = downloads();
    expect(got.map((d) => d.status)).toEqual([200, 206, 206, 206]);
    // each resume asks from further on
    const starts = got.map((d) => Number(/^bytes=(\d+)-$/.exec(d.range ?? "bytes=0-")?.[1]));
    expect(starts[0]).toBe(0);
    for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThan(starts[i - 1]);
    // the source sent the blob about once (starting over each time would have been 3 MiB more)
    const fetched = got.reduce((sum, d) => sum + d.bytes, 0);
    expect(fetched).toBeGreaterThanOrEqual(LAYER);
    expect(fetched).toBeLessThan(LAYER + MiB / 4);
    // one upload to the target, never restarted, carrying the blob exactly
    expect(uploadsOfBig(target)).toEqual([{ status: 201, bytes: LAYER }]);
    expect(logs.filter((l) => l.includes(`blob ${big.digest}: GET blob `) && /retrying from byte \d+ of 4194304/.test(l))).toHaveLength(3);
  });

  it("starts the download over when the registry ignores Range (200), and still uploads the blob once", async () => {
    const target = await freshTarget();
    const cut = setup.source.proxy.addFault({ method: "GET", path: blobPath(), fault: { type: "reset-response", afterBytes: MiB }, times: 1 });
    const ignored = setup.source.proxy.addFault({ method: "GET", path: blobPath(), fault: { type: "ignore-range" }, times: Infinity });
    const report = await copyRelease(options(target, []));
    expect([cut.hits, ignored.hits]).toEqual([1, 1]);
    await expectComplete(target, report);

    const got = downloads();
    expect(got.map((d) => [d.range === undefined, d.status])).toEqual([[true, 200], [false, 200]]);
    expect(got[1].bytes).toBe(LAYER);
    expect(uploadsOfBig(target)).toEqual([{ status: 201, bytes: LAYER }]);
  });

  it("never commits the blob when a resumed piece differs: its image fails, the rest copies", async () => {
    const target = await freshTarget();
    setup.source.proxy.addFault({ method: "GET", path: blobPath(), fault: { type: "reset-response", afterBytes: MiB }, times: 1 });
    const corrupt = setup.source.proxy.addFault({ method: "GET", path: blobPath(), fault: { type: "corrupt" }, times: Infinity });
    const report = await copyRelease(options(target, []));
    expect(corrupt.hits).toBe(1);
    expect(downloads().map((d) => d.status)).toEqual([200, 206]);
    expect(report.status).toBe("failed");
    const failed = report.images.filter((i) => i.status === "failed");
    expect(failed.map((i) => [i.source, /does not match its digest/.test(i.reason ?? "")])).toEqual([[`${setup.source.proxy.host}/${REPO}:${big.value}`, true]]);
    expect(await blobPresent(target.reg, REPO, big.digest)).toBe(false);
    expect(uploadsOfBig(target).filter((u) => u.status === 201)).toEqual([]);
  });
});
