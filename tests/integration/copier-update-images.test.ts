// `--with-update-images` between real registries: the release-channel tags and the running version's installer
// land in the target's sub-repositories with the source digests; channels the source lacks are reported "absent"
// and the run still succeeds; without the flag nothing is written there.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RESULT_LINE_PREFIX, runCli } from "../../copier";
import { pushImage, pushMultiArch, seedRelease, type SeededRelease } from "../helpers/images";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { skopeoDigestOrAbsent, skopeoListTags, skopeoManifestDigest } from "../helpers/skopeo";
import { captureOutput, lastLine, removeDir, tempDir, writeConfigDir } from "../helpers/copy-fixture";

const SOURCE_REPO = "deckhouse/ee";
const TARGET_REPO = "mirror/deckhouse";
const ABSENT_CHANNELS = ["beta", "early-access", "rock-solid"];

describe("copy with --with-update-images", () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let release: SeededRelease;
  let dir: string;
  let configDir: string;
  const sourceDigests: Record<string, string> = {};

  beforeAll(async () => {
    [source, target] = await Promise.all([startRegistry({ tls: true, auth: "token" }), startRegistry({ tls: true, auth: "basic" })]);
    release = await seedRelease(source, SOURCE_REPO, { tagged: 1, digestOnly: 1, multiArch: 0, seed: "update-images", deckhouseTag: "v1.46.3" });
    const layer = (seed: string) => [{ size: 16 * 1024, seed }];
    sourceDigests["release-channel:stable"] = (await pushImage(source, `${SOURCE_REPO}/release-channel`, { format: "docker", seed: "channel-stable", layers: layer("rc") }, "stable")).digest;
    sourceDigests["release-channel:alpha"] = (await pushMultiArch(source, `${SOURCE_REPO}/release-channel`, { format: "oci", seed: "channel-alpha", layers: layer("rc"), tag: "alpha" })).digest;
    sourceDigests["install:v1.46.3"] = (await pushImage(source, `${SOURCE_REPO}/install`, { format: "oci", seed: "installer", layers: layer("installer") }, "v1.46.3")).digest;
    dir = tempDir("update-images-test");
    configDir = writeConfigDir({ dest: target.repoConfig(`${TARGET_REPO}:rock-solid-1.46`), source: source.repoConfig(release.deckhouseImage), images: release.images });
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    removeDir(dir);
    removeDir(configDir);
  });

  const run = (...extra: string[]) => captureOutput(() => runCli(["copy", "--config-dir", configDir, "--concurrency", "4", ...extra]));

  it("without the flag copies the release only: no release-channel or install repository in the target", async () => {
    const { result, stdout } = await run();
    expect(result).toBe(0);
    expect(JSON.parse(lastLine(stdout).slice(RESULT_LINE_PREFIX.length))).toMatchObject({ status: "succeeded", images: release.references.length, failed: 0 });
    expect(stdout).not.toContain("release-channel");
    expect(await skopeoListTags(target, `${TARGET_REPO}/release-channel`)).toEqual([]);
    expect(await skopeoDigestOrAbsent(target, `${TARGET_REPO}/install:v1.46.3`)).toBeUndefined();
  });

  it("with the flag copies the channels and the installer the source has, and reports the others as absent", async () => {
    const dry = await run("--with-update-images", "--dry-run");
    expect(dry.result).toBe(0);
    expect(dry.stdout).toContain(`would copy: ${source.host}/${SOURCE_REPO}/release-channel:stable -> ${target.host}/${TARGET_REPO}/release-channel:stable`);
    expect(dry.stdout).toContain(`would copy: ${source.host}/${SOURCE_REPO}/install:v1.46.3 -> ${target.host}/${TARGET_REPO}/install:v1.46.3`);
    expect(dry.stdout).toMatch(/dry run: 3 of \d+ images missing .* 3 absent in the source; nothing written/);
    expect(await skopeoListTags(target, `${TARGET_REPO}/release-channel`)).toEqual([]);

    const reportFile = join(dir, "report.json");
    const { result, stdout, stderr } = await run("--with-update-images", "--report", reportFile);
    expect({ result, stderr: stderr.includes("images-copier: error:") ? stderr : "" }).toEqual({ result: 0, stderr: "" });

    for (const [ref, digest] of Object.entries(sourceDigests)) {
      expect(await skopeoManifestDigest(source, `${SOURCE_REPO}/${ref}`)).toBe(digest);
      expect(await skopeoManifestDigest(target, `${TARGET_REPO}/${ref}`)).toBe(digest);
    }
    expect((await skopeoListTags(target, `${TARGET_REPO}/release-channel`)).sort()).toEqual(["alpha", "stable"]);

    const report = JSON.parse(readFileSync(reportFile, "utf8")) as {
      status: string;
      totals: { images: number; copied: number; skipped: number; failed: number; absent: number };
      images: Array<{ source: string; target: string; status: string; reason?: string; digest?: string }>;
    };
    expect(report.status).toBe("succeeded");
    const updates = report.images.filter((i) => /\/(release-channel|install):/.test(i.source));
    const byTarget = Object.fromEntries(updates.map((i) => [i.target.slice(`${target.host}/${TARGET_REPO}/`.length), i]));
    expect(Object.keys(byTarget).sort()).toEqual(["install:v1.46.3", ...["alpha", "stable", ...ABSENT_CHANNELS].map((c) => `release-channel:${c}`)].sort());
    for (const ref of Object.keys(sourceDigests)) expect(byTarget[ref]).toMatchObject({ status: "copied", digest: sourceDigests[ref], source: `${source.host}/${SOURCE_REPO}/${ref}` });
    for (const channel of ABSENT_CHANNELS) {
      const entry = byTarget[`release-channel:${channel}`];
      expect(entry.status).toBe("absent");
      expect(entry.reason).toMatch(/MANIFEST_UNKNOWN|NAME_UNKNOWN/);
      expect(stdout).toContain(`absent in the source (not copied): ${source.host}/${SOURCE_REPO}/release-channel:${channel}`);
      expect(await skopeoDigestOrAbsent(target, `${TARGET_REPO}/release-channel:${channel}`)).toBeUndefined();
    }
    // the release itself was already there from the first run
    expect(report.totals).toMatchObject({ images: release.references.length + 6, copied: 3, skipped: release.references.length, failed: 0, absent: 3 });
    expect(JSON.parse(lastLine(stdout).slice(RESULT_LINE_PREFIX.length))).toMatchObject({ status: "succeeded", images: release.references.length + 6, copied: 3, failed: 0 });
  });

  it("a re-run with the flag skips what it copied and still reports the absent channels", async () => {
    const { result, stdout } = await run("--with-update-images");
    expect(result).toBe(0);
    expect(JSON.parse(lastLine(stdout).slice(RESULT_LINE_PREFIX.length))).toMatchObject({ status: "succeeded", copied: 0, skipped: release.references.length + 3, failed: 0 });
    expect(stdout).toContain("3 absent in the source");
  });
});
