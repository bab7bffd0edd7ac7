// The bundle, run exactly as the Job runs it (`node images-copier.cjs copy --config-dir DIR`), between two real registries.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { seedRelease, type SeededRelease } from "../helpers/images";
import { lastLine, removeDir, tempDir, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { reportStatuses } from "../helpers/copy-report";
import { ensureBundle, runBundle } from "../helpers/bundle";

const RESULT_PREFIX = "images-copier result: ";

describe("dist/images-copier.cjs as the Job runs it", () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let release: SeededRelease;
  let work: string;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startRegistry({ tls: true, auth: "token", password: 'job"src:pw' }),
      startRegistry({ tls: true, auth: "basic", password: 'job"dst:pw' }),
      ensureBundle(),
    ]);
    release = await seedRelease(source, "deckhouse/ee", { tagged: 3, digestOnly: 2, multiArch: 2, seed: "bundle" });
    work = tempDir("bundle-test");
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    removeDir(work);
  });

  it("copies the release and ends with a succeeded result line", async () => {
    const dir = writeConfigDir({
      dest: target.repoConfig("client/deckhouse:test"),
      source: source.repoConfig(release.deckhouseImage),
      images: release.images,
    }, tempDir("bundle-config"));
    const report = join(work, "report.json");
    const run = await runBundle(["copy", "--config-dir", dir, "--report", report]);
    removeDir(dir);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const result = lastLine(run.stdout);
    expect(result.startsWith(RESULT_PREFIX)).toBe(true);
    expect(JSON.parse(result.slice(RESULT_PREFIX.length))).toMatchObject({
      status: "succeeded",
      images: release.references.length,
      failed: 0,
      target: target.ref("client/deckhouse:test"),
    });
    expect(reportStatuses(JSON.parse(readFileSync(report, "utf8")))).toHaveLength(release.references.length);
    const check = await verifyCopiedRelease(target, "client/deckhouse", "client/deckhouse:test", release);
    expect(check.problems).toEqual([]);
  });

  it("exits non-zero with one error line for an unreachable target", async () => {
    const dest = { ...target.repoConfig("client/deckhouse:test"), image: "127.0.0.1:9/client/deckhouse:test" };
    const dir = writeConfigDir({ dest, source: source.repoConfig(release.deckhouseImage), images: release.images }, tempDir("bundle-config"));
    const run = await runBundle(["copy", "--config-dir", dir]);
    removeDir(dir);
    expect(run.code).toBe(1);
    const errors = run.stderr.split("\n").filter((l) => l.startsWith("images-copier: error:"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("127.0.0.1:9");
    expect(JSON.parse(lastLine(run.stdout).slice(RESULT_PREFIX.length)).status).toBe("failed");
    expect(run.stdout + run.stderr).not.toContain('job"dst:pw');
  });
});
