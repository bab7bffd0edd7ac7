// A plain-HTTP target (`insecure: true`) with basic auth, from a plain-HTTP token-auth source; the list comes from
// `--images FILE` as in the Job (an init container writes it), not from d8-images.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, RESULT_LINE_PREFIX } from "../../copier";
import { captureOutput, lastLine, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { useCopyPair } from "../helpers/copy-pair";

describe("copy to a plain-HTTP registry with insecure: true", () => {
  const pair = useCopyPair({
    source: { tls: false, auth: "token" },
    target: { tls: false, auth: "basic", password: 'http"pass:word' },
    repo: "deckhouse/ce",
    seed: { tagged: 2, digestOnly: 1, multiArch: 2, seed: "insecure" },
    name: "insecure-test",
  });

  it("copies every image and skopeo agrees on each digest", async () => {
    const dest = pair.target.repoConfig("registry/deckhouse:mirrored");
    expect(dest.insecure).toBe(true);
    expect(dest.image.startsWith(`${pair.target.host}/`)).toBe(true);
    const configDir = join(pair.work, "config");
    mkdirSync(configDir);
    writeConfigDir({ dest, source: pair.source.repoConfig(pair.release.deckhouseImage) }, configDir);
    const imagesFile = join(pair.work, "images.json");
    writeFileSync(imagesFile, JSON.stringify(pair.release.images));
    const run = await captureOutput(() => runCli(["copy", "--config-dir", configDir, "--images", imagesFile, "--concurrency", "2"]));
    expect({ exit: run.result, stderr: run.stderr }).toEqual({ exit: 0, stderr: expect.any(String) });
    const summary = JSON.parse(lastLine(run.stdout).slice(RESULT_LINE_PREFIX.length));
    expect(summary).toMatchObject({ status: "succeeded", failed: 0, images: pair.release.references.length });
    const check = await verifyCopiedRelease(pair.target, "registry/deckhouse", "registry/deckhouse:mirrored", pair.release);
    expect(check.problems).toEqual([]);
  });
});
