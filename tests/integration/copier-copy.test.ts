// End to end: a Deckhouse-like release from a token-auth registry to a TLS + htpasswd registry, through the CLI
// entry (as the Job runs it) and through the API, checked image by image with skopeo.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { copyRelease, imagesListDigest, runCli, RESULT_LINE_PREFIX } from "../../copier";
import {
  acceptedBlobUploads, BLOB_PATH, captureOutput, countLoggedRequests, lastLine, storedBlobBytes, verifyCopiedRelease, writeConfigDir, WRITES,
} from "../helpers/copy-fixture";
import { reportStatuses } from "../helpers/copy-report";
import { skopeoManifestDigest } from "../helpers/skopeo";
import { useCopyPair } from "../helpers/copy-pair";

const TARGET_PASSWORD = 'Tg"t:pa"ss:w0rd';
const SOURCE_PASSWORD = 'license"token:key:42';

describe("copy a release: token-auth source -> TLS + htpasswd target", () => {
  const pair = useCopyPair({
    source: { tls: true, auth: "token", username: "license-token", password: SOURCE_PASSWORD },
    target: { tls: true, auth: "basic", username: "customer", password: TARGET_PASSWORD },
    repo: "deckhouse/ee",
    seed: { tagged: 5, digestOnly: 2, multiArch: 2, layerSize: 48 * 1024 },
    name: "copy-test",
  });

  const targetImage = "customer/deckhouse:rock-solid-1.46";
  const distinctImages = () => pair.release.references.length;

  function configDir(name: string, image = targetImage): string {
    const dir = join(pair.work, name);
    mkdirSync(dir);
    return writeConfigDir({ dest: pair.target.repoConfig(image), source: pair.source.repoConfig(pair.release.deckhouseImage), images: pair.release.images }, dir);
  }

  function expectNoSecrets(...texts: string[]): void {
    const basic = Buffer.from(`customer:${TARGET_PASSWORD}`).toString("base64");
    for (const text of texts) {
      expect(text).not.toContain(TARGET_PASSWORD);
      expect(text).not.toContain(SOURCE_PASSWORD);
      expect(text).not.toContain(basic);
    }
  }

  it("copies every image via the CLI; skopeo sees the source digests and the deckhouse image at the new tag", async () => {
    const report = join(pair.work, "report-1.json");
    const run = await captureOutput(() => runCli(["copy", "--config-dir", configDir("cli-1"), "--report", report]));
    expect({ exit: run.result, stderr: run.stderr }).toEqual({ exit: 0, stderr: expect.any(String) });

    const result = lastLine(run.stdout);
    expect(result.startsWith(RESULT_LINE_PREFIX)).toBe(true);
    const summary = JSON.parse(result.slice(RESULT_LINE_PREFIX.length));
    expect(summary).toMatchObject({ status: "succeeded", images: distinctImages(), copied: distinctImages(), skipped: 0, failed: 0 });
    expect(summary.bytes).toBeGreaterThan(0);
    // what was copied, for the switch stack: the Deckhouse image as given, its digest as the source resolved it
    // (read back with skopeo, an independent client) and the digest of the list's distinct values
    expect(summary.source).toBe(pair.release.deckhouseImage);
    expect(summary.sourceDigest).toBe(await skopeoManifestDigest(pair.source, pair.release.deckhouseImage));
    expect(summary.imagesDigest).toBe(imagesListDigest(pair.release.images));
    // A fresh target: bytes moved cannot exceed what it now stores (shared layers move once).
    expect(summary.bytes).toBeLessThanOrEqual(storedBlobBytes(pair.target));
    const uploads = acceptedBlobUploads(pair.target);
    expect(uploads.length).toBeGreaterThan(0);
    expect(uploads.length).toBe(new Set(uploads).size);
    // NAME_UNKNOWN on the tag list says nothing about blobs: each blob was asked for once (a HEAD, or once the
    // registry answered 201 to a mount of a blob it holds from the repository itself, a mount POST that also
    // starts the upload), then uploaded once
    const heads = countLoggedRequests(pair.target, /^HEAD$/, /./, BLOB_PATH);
    const mountsStartingUploads = countLoggedRequests(pair.target, /^POST$/, /^202$/, /[?&]mount=/);
    expect(countLoggedRequests(pair.target, /^POST$/, /^201$/, /[?&]mount=/)).toBe(1);
    expect(heads + mountsStartingUploads).toBe(uploads.length);
    expect(mountsStartingUploads).toBeGreaterThan(0);
    expect(countLoggedRequests(pair.target, /^HEAD$/, /^404$/, BLOB_PATH)).toBe(heads);

    const check = await verifyCopiedRelease(pair.target, "customer/deckhouse", targetImage, pair.release);
    expect(check.problems).toEqual([]);
    // module images + index children + deckhouse
    expect(check.verified).toBeGreaterThan(distinctImages());
    expect(await skopeoManifestDigest(pair.target, targetImage)).toEqual(pair.release.deckhouseDigest);
    // and under its original tag (Deckhouse renders `<registry>:<running tag>` after a switch), the same digest
    const originalTag = `customer/deckhouse:${pair.release.deckhouseImage.split(":").pop()}`;
    expect(await skopeoManifestDigest(pair.target, originalTag)).toEqual(pair.release.deckhouseDigest);
    expect(summary.originalTag).toBe(pair.target.ref(originalTag));
    expect(run.stdout).toContain(`also tagged: ${pair.target.ref(originalTag)}`);

    const reportText = readFileSync(report, "utf8");
    const statuses = reportStatuses(JSON.parse(reportText));
    expect(statuses).toHaveLength(distinctImages());
    expect(new Set(statuses)).toEqual(new Set(["copied"]));
    expect(JSON.parse(reportText).originalTag).toMatchObject({ target: pair.target.ref(originalTag), status: "copied", digest: pair.release.deckhouseDigest, bytes: 0 });
    expectNoSecrets(run.stdout, run.stderr, reportText);
  });

  it("re-runs with nothing to do: every image skipped, nothing written to the target", async () => {
    const writesBefore = countLoggedRequests(pair.target, WRITES);
    const report = join(pair.work, "report-2.json");
    const run = await captureOutput(() => runCli(["copy", "--config-dir", configDir("cli-2"), "--report", report]));
    expect(run.result).toBe(0);
    const summary = JSON.parse(lastLine(run.stdout).slice(RESULT_LINE_PREFIX.length));
    expect(summary).toMatchObject({ status: "succeeded", images: distinctImages(), copied: 0, skipped: distinctImages(), failed: 0 });
    const statuses = reportStatuses(JSON.parse(readFileSync(report, "utf8")));
    expect(statuses).toHaveLength(distinctImages());
    expect(new Set(statuses)).toEqual(new Set(["skipped"]));
    expect(JSON.parse(readFileSync(report, "utf8")).originalTag).toMatchObject({ status: "skipped" });
    expect(summary.originalTag).toBe(pair.target.ref("customer/deckhouse:v1.46.3"));
    expect(countLoggedRequests(pair.target, WRITES)).toBe(writesBefore);
  });

  it("into the existing repository, under a new Deckhouse tag: asks for the blobs and uploads none", async () => {
    const headsBefore = countLoggedRequests(pair.target, /^HEAD$/, /^200$/, BLOB_PATH);
    const writesBefore = countLoggedRequests(pair.target, /^(POST|PATCH)$/);
    const run = await captureOutput(() => runCli(["copy", "--config-dir", configDir("cli-3", "customer/deckhouse:another-tag")]));
    expect(run.result).toBe(0);
    // the module images are skipped by manifest; the Deckhouse image's new tag needs its blobs, which are all there
    expect(countLoggedRequests(pair.target, /^HEAD$/, /^200$/, BLOB_PATH)).toBeGreaterThan(headsBefore);
    expect(countLoggedRequests(pair.target, /^(POST|PATCH)$/)).toBe(writesBefore);
    expect(await skopeoManifestDigest(pair.target, "customer/deckhouse:another-tag")).toEqual(pair.release.deckhouseDigest);
  });

  it("copies through the API into another repository and reports per-image results", async () => {
    const image = pair.target.ref("mirror/api/deckhouse:v1.46.3-copy");
    const progress: unknown[] = [];
    const report = await copyRelease({
      source: { ...pair.source.repoConfig(pair.release.deckhouseImage) },
      target: { ...pair.target.repoConfig(image) },
      images: pair.release.images,
      concurrency: 3,
      onProgress: (p: unknown) => progress.push(p),
    });
    expect(reportStatuses(report)).toHaveLength(distinctImages());
    expect(new Set(reportStatuses(report))).toEqual(new Set(["copied"]));
    const check = await verifyCopiedRelease(pair.target, "mirror/api/deckhouse", "mirror/api/deckhouse:v1.46.3-copy", pair.release);
    expect(check.problems).toEqual([]);
    expect(report.originalTag).toMatchObject({ target: pair.target.ref("mirror/api/deckhouse:v1.46.3"), status: "copied" });
    expect(await skopeoManifestDigest(pair.target, "mirror/api/deckhouse:v1.46.3")).toEqual(pair.release.deckhouseDigest);
    expect(progress.length).toBeGreaterThan(0);
  });
});
