// A plain-HTTP target (`insecure: true`) with basic auth, from a plain-HTTP token-auth source; the list comes from
// `--images FILE` as in the Job (an init container writes it), not from d8-images.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, RESULT_LINE_PREFIX } from "../../copier";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { seedRelease, type SeededRelease } from "../helpers/images";
import { captureOutput, lastLine, removeDir, tempDir, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";

describe("copy to a plain-HTTP registry with insecure: true", () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let release: SeededRelease;
  let dir: string;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startRegistry({ tls: false, auth: "token" }),
      startRegistry({ tls: false, auth: "basic", password: 'http"pass:word' }),
    ]);
    release = await seedRelease(source, "deckhouse/ce", { tagged: 2, digestOnly: 1, multiArch: 2, seed: "insecure" });
    dir = tempDir("insecure-test");
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    removeDir(dir);
  });

  it("copies every image and skopeo agrees on each digest", async () => {
    const dest = target.repoConfig("registry/deckhouse:mirrored");
    expect(dest.insecure).toBe(true);
    expect(dest.image.startsWith(`${target.host}/`)).toBe(true);
    const configDir = join(dir, "config");
    mkdirSync(configDir);
    writeConfigDir({ dest, source: source.repoConfig(release.deckhouseImage) }, configDir);
    const imagesFile = join(dir, "images.json");
    writeFileSync(imagesFile, JSON.stringify(release.images));
    const run = await captureOutput(() => runCli(["copy", "--config-dir", configDir, "--images", imagesFile, "--concurrency", "2"]));
    expect({ exit: run.result, stderr: run.stderr }).toEqual({ exit: 0, stderr: expect.any(String) });
    const summary = JSON.parse(lastLine(run.stdout).slice(RESULT_LINE_PREFIX.length));
    expect(summary).toMatchObject({ status: "succeeded", failed: 0, images: release.references.length });
    const check = await verifyCopiedRelease(target, "registry/deckhouse", "registry/deckhouse:mirrored", release);
    expect(check.problems).toEqual([]);
  });
});
