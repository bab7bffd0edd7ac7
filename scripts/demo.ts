// `npm run demo`: the main job on a machine without a cluster. Two real registries on 127.0.0.1 (a token-auth
// source like registry.deckhouse.io, a TLS + htpasswd target like a customer's), a small Deckhouse-like release,
// the Secret's three files in a temp dir, then the bundled copier exactly as the Job runs it, checked with skopeo.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startRegistry, type TestRegistry } from "../tests/helpers/registry";
import { seedRelease } from "../tests/helpers/images";
import { tempDir, verifyCopiedRelease, writeConfigDir } from "../tests/helpers/copy-fixture";
import { ensureBundle, runBundle, BUNDLE, ROOT } from "../tests/helpers/bundle";

const TARGET_REPOSITORY = "customer/deckhouse";
const TARGET_IMAGE = `${TARGET_REPOSITORY}:rock-solid-1.46`;

function step(text: string): void {
  console.log(`\n== ${text}`);
}

async function main(): Promise<number> {
  const registries: TestRegistry[] = [];
  const work = tempDir("demo");
  const stopAll = async () => {
    await Promise.all(registries.map((r) => r.stop()));
    rmSync(work, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void stopAll().finally(() => process.exit(130)));
  }

  try {
    step("starting two local registries (Debian docker-registry, distribution 2.8)");
    const [source, target] = await Promise.all([
      startRegistry({ tls: true, auth: "token", username: "license-token", password: "demo-license-key" }),
      startRegistry({ tls: true, auth: "basic", username: "customer", password: 'Pass"Word:42' }),
    ]);
    registries.push(source, target);
    console.log(`source ${source.url} (bearer tokens from ${source.tokenServer?.realm})`);
    console.log(`target ${target.url} (TLS with a private CA, htpasswd)`);

    step("seeding a Deckhouse-like release into the source's one repository");
    const release = await seedRelease(source, "deckhouse/ee", {
      tagged: 6,
      digestOnly: 2,
      multiArch: 2,
      layerSize: 384 * 1024,
      baseLayerSize: 2 * 1024 * 1024,
      seed: "demo",
    });
    console.log(
      `${release.references.length} images (${release.entries.length} module images: werf tags, digest-only entries, ` +
        `a manifest list and an OCI index, plus ${release.deckhouseImage})`,
    );

    step("writing the Secret's files (dest-repo.json, d8-repo.json, d8-images.json)");
    const configDir = join(work, "config");
    mkdirSync(configDir, { mode: 0o700 });
    writeConfigDir(
      { dest: target.repoConfig(TARGET_IMAGE), source: source.repoConfig(release.deckhouseImage), images: release.images },
      configDir,
    );
    console.log(configDir);

    await ensureBundle();
    const report = join(work, "report.json");
    const args = ["copy", "--config-dir", configDir, "--report", report];
    step(`node ${BUNDLE.slice(ROOT.length + 1)} ${args.join(" ")}`);
    const run = await runBundle(args, { echo: true, timeoutMs: 120_000 });
    const code = run.code ?? 1;

    step("checking every image in the target with skopeo");
    const check = await verifyCopiedRelease(target, TARGET_REPOSITORY, TARGET_IMAGE, release);
    for (const problem of check.problems) {
      console.log(`MISMATCH ${target.ref(problem.reference)}: expected ${problem.expected}, found ${problem.actual ?? "nothing"}`);
    }
    console.log(
      `${check.verified} images verified with skopeo (every module image, every platform of each index, and ` +
        `${target.ref(TARGET_IMAGE)})${check.problems.length ? `; ${check.problems.length} missing or different` : ""}`,
    );
    console.log(`copier exit status ${code}`);
    return code !== 0 ? code : check.problems.length ? 1 : 0;
  } finally {
    step("stopping the registries");
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo: error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
