/**
 * `npm run bench`: our copier (the bundled CLI) against `skopeo sync --all` on a generated Deckhouse-like release.
 * Per round, each tool copies into its own fresh TLS + basic-auth registry (order alternating between rounds),
 * then re-runs with nothing left to copy. Prints per round our time, skopeo's, the ratio and our peak RSS, then a
 * memory check (one small vs one huge layer) and, last, the best ratios.
 *
 * Environment: BENCH_SCALE (data size factor, default 1 = 1.1 GiB unique layers and a 1 GiB layer for the memory
 * check), BENCH_ROUNDS (default 2), BENCH_IMAGES (default 130), BENCH_CONCURRENCY (passed to --concurrency),
 * BENCH_PROFILE=1 (also count requests per image through a proxy and write a CPU profile of our copier).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { startRegistry, type TestRegistry } from "../tests/helpers/registry";
import { generateRelease, generateSingleLayerImage } from "./generate";
import { measure, registryPid, type Measured } from "./measure";
import { profileCopier } from "./profile";
import { copierConfigDir, missingOrDifferent, skopeoSyncArgs } from "./targets";

const REPO = "deckhouse/ee";
const DECKHOUSE_TAG = "v1.46.3";
const MiB = 1 << 20;
const RUN_TIMEOUT_MS = 30 * 60_000;

const num = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
};

const s = (m: Measured): string => (m.ms / 1000).toFixed(2).padStart(7);

function resultLine(m: Measured): string {
  const line = m.stdout.trim().split("\n").reverse().find((l) => l.startsWith("images-copier result: "));
  return line ? line.slice("images-copier result: ".length) : "(no result line)";
}

/** CPU seconds of the source registry and the target registry written to in that run. */
const cpuList = (m: Measured): string => m.cpu.filter((c) => c > 0.005).map((c) => c.toFixed(1)).join("/");

function mustSucceed(what: string, m: Measured): void {
  if (m.code !== 0) {
    throw new Error(`${what} failed with exit ${m.code}:\n${m.stderr.slice(-2000)}\n${m.stdout.slice(-1000)}`);
  }
}

async function main(): Promise<void> {
  const scale = num("BENCH_SCALE", 1);
  const rounds = Math.round(num("BENCH_ROUNDS", 2));
  const images = Math.max(120, Math.round(num("BENCH_IMAGES", 130)));
  const concurrency = process.env.BENCH_CONCURRENCY ? ["--concurrency", String(num("BENCH_CONCURRENCY", 8))] : [];
  const bundle = resolve(__dirname, "..", "dist", "images-copier.cjs");
  const work = mkdtempSync(join(tmpdir(), "images-copier-bench-"));
  const timeFile = join(work, "time.txt");
  const registries = new Set<TestRegistry>();
  const start = async (opts: Parameters<typeof startRegistry>[0]): Promise<TestRegistry> => {
    const reg = await startRegistry(opts);
    registries.add(reg);
    return reg;
  };
  const stop = async (reg: TestRegistry): Promise<void> => {
    registries.delete(reg);
    await reg.stop();
  };
  const pidOf = (reg: TestRegistry): number | undefined => registryPid(dirname(reg.logFile));

  try {
    const source = await start({});
    const imagesFile = join(work, "images_tags.json");
    const release = await generateRelease({
      origin: source.url,
      repo: REPO,
      deckhouseTag: DECKHOUSE_TAG,
      images,
      multiArch: 4,
      uniqueBytes: Math.round(1100 * MiB * scale),
      imagesTagsFile: imagesFile,
      log: (l) => console.log(l),
    });
    const imagesTags = JSON.parse(readFileSync(imagesFile, "utf8")) as Record<string, Record<string, string>>;
    console.log(`source ${source.url}/${REPO}: ${release.tags.length} tags, ${release.layers} layers, ` +
      `${(release.uniqueLayerBytes / MiB).toFixed(0)} MiB unique layer bytes; images_tags.json at ${imagesFile}`);

    const fresh: number[] = [];
    const rerun: number[] = [];
    let peak = 0;
    for (let round = 1; round <= rounds; round++) {
      const oursTarget = await start({ tls: true, auth: "basic" });
      const theirsTarget = await start({ tls: true, auth: "basic" });
      const configDir = copierConfigDir(join(work, `config-${round}`), source, oursTarget, `${REPO}:${DECKHOUSE_TAG}`, imagesTags);
      const watch = [pidOf(source), pidOf(oursTarget), pidOf(theirsTarget)];
      const ours = (): Promise<Measured> =>
        measure(process.execPath, [bundle, "copy", "--config-dir", configDir, ...concurrency], { watchPids: watch, timeFile, timeoutMs: RUN_TIMEOUT_MS });
      const theirs = (): Promise<Measured> =>
        measure("skopeo", skopeoSyncArgs(source, theirsTarget, REPO), { watchPids: watch, timeFile, timeoutMs: RUN_TIMEOUT_MS });
      const pair = async (): Promise<[Measured, Measured]> => {
        if (round % 2 === 1) {
          const a = await ours();
          return [a, await theirs()];
        }
        const b = await theirs();
        return [await ours(), b];
      };

      for (const phase of ["fresh", "rerun"] as const) {
        const [a, b] = await pair();
        mustSucceed(`our copier (${phase}, round ${round})`, a);
        mustSucceed(`skopeo sync (${phase}, round ${round})`, b);
        const ratio = a.ms / b.ms;
        (phase === "fresh" ? fresh : rerun).push(ratio);
        peak = Math.max(peak, a.peakRssMb);
        console.log(
          `round ${round} ${phase.padEnd(5)}: ours ${s(a)} s, skopeo ${s(b)} s, ratio ${ratio.toFixed(2)}, ` +
            `our peak RSS ${a.peakRssMb.toFixed(0)} MB | CPU s: ours ${a.selfCpu.toFixed(1)} + registries ${cpuList(a)}, ` +
            `skopeo ${b.selfCpu.toFixed(1)} + registries ${cpuList(b)}`,
        );
        console.log(`  ours: ${resultLine(a)}`,
        );
        if (phase === "fresh") {
          const badOurs = await missingOrDifferent(source, oursTarget, REPO, release.tags);
          const badTheirs = await missingOrDifferent(source, theirsTarget, REPO, release.tags);
          if (badOurs.length || badTheirs.length) {
            throw new Error(`incomplete copy: ours misses ${badOurs.length} tags, skopeo misses ${badTheirs.length}`);
          }
        }
      }
      await Promise.all([stop(oursTarget), stop(theirsTarget)]);
    }

    if (process.env.BENCH_PROFILE === "1") {
      await profileCopier({ bundle, source, repoAndTag: `${REPO}:${DECKHOUSE_TAG}`, imagesTags, work, images: release.tags.length });
    }

    // memory: one image with a small layer, then one with a huge layer; peak RSS should not follow the layer size
    const small = Math.round(16 * MiB * Math.min(1, scale * 4));
    const big = Math.round(1024 * MiB * scale);
    const memory: string[] = [];
    for (const [tag, size] of [["small", small], ["big", big]] as const) {
      await generateSingleLayerImage(source.url, "memcheck/ee", tag, size);
      const target = await start({ tls: true, auth: "basic" });
      const dir = copierConfigDir(join(work, `memcheck-${tag}`), source, target, `memcheck/ee:${tag}`, { memcheck: { image: tag } });
      const m = await measure(process.execPath, [bundle, "copy", "--config-dir", dir, ...concurrency], { timeFile, timeoutMs: RUN_TIMEOUT_MS });
      mustSucceed(`our copier (memory check, ${tag})`, m);
      memory.push(`${(size / MiB).toFixed(0)} MiB layer: peak RSS ${m.peakRssMb.toFixed(0)} MB in ${s(m).trim()} s`);
      peak = Math.max(peak, m.peakRssMb);
      await stop(target);
    }
    console.log(`memory check (one single-layer image): ${memory.join("; ")}`);
    console.log(
      `best ratios: fresh ${Math.min(...fresh).toFixed(2)}x skopeo (target <= 0.5), re-run ${Math.min(...rerun).toFixed(2)}x skopeo ` +
        `(target <= 0.5); our peak RSS ${peak.toFixed(0)} MB (target <= 160)`,
    );
  } finally {
    await Promise.all([...registries].map((r) => r.stop().catch(() => undefined)));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
