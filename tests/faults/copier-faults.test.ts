// The copier between real registries with a fault-injecting proxy in front of each: resets mid-blob, 5xx, 429 with
// Retry-After, stalls, an expiring bearer token and a corrupted blob. The copy completes and every image verifies
// byte for byte, retries are bounded and logged; a corrupted blob fails only its image and is never committed.
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { copyRelease, runCli, RESULT_LINE_PREFIX, type CopyReleaseOptions, type CopyReport } from "../../copier";
import type { SeededRelease } from "../helpers/images";
import { captureOutput, lastLine, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { skopeoDigestOrAbsent } from "../helpers/skopeo";
import {
  blobPresent, blobsNotMatching, DECKHOUSE_TAG, releaseBlobs, REPO, retryLines, uniqueLayerOf, useFaultSetup, type ProxiedRegistry,
} from "./fault-fixture";

const FAST_RETRY = { baseDelayMs: 20, maxDelayMs: 300 };

describe("copier under injected faults", () => {
  const setup = useFaultSetup("faults", { tagged: 5, digestOnly: 1, multiArch: 2, layerSize: 200 * 1024, baseLayerSize: 400 * 1024 });
  let source: ProxiedRegistry;
  let release: SeededRelease;
  let work: string;
  beforeAll(() => {
    ({ source, release, work } = setup);
  });
  const freshTarget = setup.freshTarget;

  function options(target: ProxiedRegistry, logs: string[], extra: Partial<CopyReleaseOptions> = {}): CopyReleaseOptions {
    return {
      source: source.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      target: target.repoConfig(`${REPO}:${DECKHOUSE_TAG}`),
      images: release.images,
      concurrency: 4,
      logger: (line) => logs.push(line),
      retry: FAST_RETRY,
      ...extra,
    };
  }

  async function expectCompleteCopy(target: ProxiedRegistry, report: CopyReport): Promise<void> {
    expect({ status: report.status, error: report.error, failed: report.totals.failed }).toEqual({ status: "succeeded", error: undefined, failed: 0 });
    expect(report.totals.copied).toBe(release.references.length);
    const check = await verifyCopiedRelease(target.reg, REPO, `${REPO}:${DECKHOUSE_TAG}`, release);
    expect(check.problems).toEqual([]);
    expect(await blobsNotMatching(target.reg, REPO, releaseBlobs(release))).toEqual([]);
  }

  it("survives resets mid-blob (both ways), 500/503 and 429 with Retry-After, and logs its retries", async () => {
    const target = await freshTarget();
    const rules = [
      source.proxy.addFault({ method: "GET", path: /\/blobs\/sha256:/, fault: { type: "reset-response", afterBytes: 50_000 }, times: 3 }),
      source.proxy.addFault({ method: "GET", path: /\/manifests\//, fault: { type: "status", status: 429, retryAfterSeconds: 1 }, times: 2 }),
      target.proxy.addFault({ method: "HEAD", path: /\/manifests\//, fault: { type: "status", status: 503 }, times: 2, after: 1 }),
      target.proxy.addFault({ method: "PUT", path: /\/blobs\/uploads\//, fault: { type: "reset-request", afterBytes: 60_000 }, times: 2 }),
      target.proxy.addFault({ method: "POST", path: /\/blobs\/uploads\//, fault: { type: "status", status: 503 }, times: 2 }),
      target.proxy.addFault({ method: "HEAD", path: /\/blobs\//, fault: { type: "status", status: 500 }, times: 2 }),
      target.proxy.addFault({ method: "PUT", path: /\/manifests\//, fault: { type: "status", status: 500 }, times: 2 }),
    ];
    const logs: string[] = [];
    const report = await copyRelease(options(target, logs));
    expect(rules.map((r) => r.hits)).toEqual([3, 2, 2, 2, 2, 2, 2]);
    await expectCompleteCopy(target, report);
    // every injected failure is retried, and the operator sees each retry; Retry-After is honoured. The 10
    // request-level faults each log a retry; a source reset and a target reset can hit the same blob transfer
    // and then cost one retry between them, so the 5 body resets log at least 3.
    const retries = retryLines(logs);
    expect(retries.length).toBeGreaterThanOrEqual(13);
    expect(retries.filter((l) => /HTTP 429.* in 1000 ms/.test(l))).toHaveLength(2);
    expect(retries.some((l) => /HTTP 503/.test(l)) && retries.some((l) => /HTTP 500/.test(l))).toBe(true);
    // each side's reset is reported as that side's: the source's GET, the target's PUT
    expect(retries.some((l) => /: GET blob [^ ]+@sha256:[0-9a-f]{64}: /.test(l))).toBe(true);
    expect(retries.some((l) => /: PUT https:\/\/[^ ]+\/blobs\/uploads\//.test(l))).toBe(true);
  });

  it("bounds the retries of a blob that never comes through: its image fails, every other image copies", async () => {
    const target = await freshTarget();
    const broken = uniqueLayerOf(release);
    const escaped = broken.digest.replace(":", "\\:");
    const rule = source.proxy.addFault({ method: "GET", path: new RegExp(`/blobs/${escaped}$`), fault: { type: "reset-response", afterBytes: 1000 }, times: Infinity });
    const logs: string[] = [];
    const report = await copyRelease(options(target, logs, { retry: { ...FAST_RETRY, maxAttempts: 3 } }));
    expect(report.status).toBe("failed");
    const failed = report.images.filter((i) => i.status === "failed");
    expect(failed.map((i) => i.source)).toEqual([`${source.proxy.host}/${REPO}:${broken.value}`]);
    // the reason names the source blob that kept breaking, not the target's upload that failed with it
    expect(failed[0].reason).toContain(`GET blob ${source.proxy.host}/${REPO}@${broken.digest}`);
    expect(logs.filter((l) => l.includes(`blob ${broken.digest}: GET blob ${source.proxy.host}/`)).length).toBeGreaterThanOrEqual(1);
    expect(report.totals.copied).toBe(release.references.length - 1);
    // bounded: at most maxAttempts downloads of that blob
    expect(rule.hits).toBeGreaterThanOrEqual(1);
    expect(rule.hits).toBeLessThanOrEqual(3);
    expect(await blobPresent(target.reg, REPO, broken.digest)).toBe(false);
  });

  it("gets past stalled answers (no headers, a body that stops) through its timeouts", async () => {
    const target = await freshTarget();
    const stalls = [
      source.proxy.addFault({ method: "GET", path: /\/blobs\/sha256:/, fault: { type: "stall", ms: Infinity, afterBytes: 10_000 }, times: 2 }),
      target.proxy.addFault({ method: "HEAD", path: /\/manifests\//, fault: { type: "stall", ms: Infinity }, times: 1 }),
      target.proxy.addFault({ method: "PUT", path: /\/manifests\//, fault: { type: "stall", ms: Infinity }, times: 1 }),
    ];
    const logs: string[] = [];
    const report = await copyRelease(options(target, logs, { timeouts: { headersMs: 1500, bodyMs: 1500 } }));
    expect(stalls.map((s) => s.hits)).toEqual([2, 1, 1]);
    await expectCompleteCopy(target, report);
  });

  it("renews a bearer token that expires during the run", async () => {
    // a short-lived token and stalls longer than its life, so requests arrive with an expired token
    const target = await freshTarget({ tls: true, auth: "token", tokenTtlSeconds: 2 }, { enforceTokenExpiry: true });
    const stalls = [
      target.proxy.addFault({ method: "PUT", path: /\/blobs\/uploads\//, fault: { type: "stall", ms: 2500 }, times: 2 }),
      target.proxy.addFault({ method: "PUT", path: /\/manifests\//, fault: { type: "stall", ms: 2500 }, times: 1 }),
    ];
    const logs: string[] = [];
    const report = await copyRelease(options(target, logs));
    expect(stalls.map((s) => s.hits)).toEqual([2, 1]);
    expect(target.proxy.expiredTokens()).toBeGreaterThanOrEqual(1);
    expect(target.reg.tokenServer?.issued()).toBeGreaterThanOrEqual(2);
    await expectCompleteCopy(target, report);
  });

  it("fails only the image whose blob arrives corrupted, never commits that digest, and exits non-zero", async () => {
    const target = await freshTarget();
    const corrupt = uniqueLayerOf(release, "oci");
    const escaped = corrupt.digest.replace(":", "\\:");
    source.proxy.addFault({ method: "GET", path: new RegExp(`/blobs/${escaped}$`), fault: { type: "corrupt" }, times: Infinity });
    const dir = writeConfigDir({ dest: target.repoConfig(`${REPO}:${DECKHOUSE_TAG}`), source: source.repoConfig(`${REPO}:${DECKHOUSE_TAG}`), images: release.images }, mkdtempSync(join(work, "corrupt-")));
    const reportFile = join(work, "corrupt-report.json");
    const run = await captureOutput(() => runCli(["copy", "--config-dir", dir, "--report", reportFile]));

    expect(run.result).toBe(1);
    const result = JSON.parse(lastLine(run.stdout).slice(RESULT_LINE_PREFIX.length));
    expect(result).toMatchObject({ status: "failed", failed: 1, copied: release.references.length - 1 });
    const badRef = `${source.proxy.host}/${REPO}:${corrupt.value}`;
    expect(run.stderr).toMatch(new RegExp(`images-copier: error: .*${corrupt.value}.*does not match its digest ${escaped}`));
    const report = JSON.parse(readFileSync(reportFile, "utf8")) as CopyReport;
    const failed = report.images.filter((i) => i.status === "failed");
    expect(failed.map((i) => [i.source, /does not match its digest/.test(i.reason ?? "")])).toEqual([[badRef, true]]);
    // nothing with that digest in the target, and the image's manifest was not pushed
    expect(await blobPresent(target.reg, REPO, corrupt.digest)).toBe(false);
    expect(await skopeoDigestOrAbsent(target.reg, `${REPO}:${corrupt.value}`)).toBeUndefined();
    // the rest copied and verifies
    const others = { ...release, entries: release.entries.filter((e) => e.value !== corrupt.value) };
    const check = await verifyCopiedRelease(target.reg, REPO, `${REPO}:${DECKHOUSE_TAG}`, others);
    expect(check.problems).toEqual([]);
  });
});
