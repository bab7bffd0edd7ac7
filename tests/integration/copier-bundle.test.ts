// The bundle, run exactly as the Job runs it (`node images-copier.cjs copy --config-dir DIR`), between two real registries.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { lastLine, removeDir, tempDir, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { reportStatuses } from "../helpers/copy-report";
import { ensureBundle, runBundle } from "../helpers/bundle";
import { useCopyPair } from "../helpers/copy-pair";

const RESULT_PREFIX = "images-copier result: ";

describe("dist/images-copier.cjs as the Job runs it", () => {
  const pair = useCopyPair({
    source: { tls: true, auth: "token", password: 'job"src:pw' },
    target: { tls: true, auth: "basic", password: 'job"dst:pw' },
    repo: "deckhouse/ee",
    seed: { tagged: 3, digestOnly: 2, multiArch: 2, seed: "bundle" },
    name: "bundle-test",
    alongside: ensureBundle,
  });

  it("copies the release and ends with a succeeded result line", async () => {
    const dir = writeConfigDir({
      dest: pair.target.repoConfig("client/deckhouse:test"),
      source: pair.source.repoConfig(pair.release.deckhouseImage),
      images: pair.release.images,
    }, tempDir("bundle-config"));
    const report = join(pair.work, "report.json");
    const run = await runBundle(["copy", "--config-dir", dir, "--report", report]);
    removeDir(dir);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const result = lastLine(run.stdout);
    expect(result.startsWith(RESULT_PREFIX)).toBe(true);
    expect(JSON.parse(result.slice(RESULT_PREFIX.length))).toMatchObject({
      status: "succeeded",
      images: pair.release.references.length,
      failed: 0,
      target: pair.target.ref("client/deckhouse:test"),
    });
    expect(reportStatuses(JSON.parse(readFileSync(report, "utf8")))).toHaveLength(pair.release.references.length);
    const check = await verifyCopiedRelease(pair.target, "client/deckhouse", "client/deckhouse:test", pair.release);
    expect(check.problems).toEqual([]);
  });

  it("exits non-zero with one error line for an unreachable target", async () => {
    const dest = { ...pair.target.repoConfig("client/deckhouse:test"), image: "127.0.0.1:9/client/deckhouse:test" };
    const dir = writeConfigDir({ dest, source: pair.source.repoConfig(pair.release.deckhouseImage), images: pair.release.images }, tempDir("bundle-config"));
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
