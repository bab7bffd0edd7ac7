/**
 * `npm run bench`: our copier (the bundled CLI) against `skopeo sync --all` on a generated Deckhouse-like release.
 * Loopback rounds copy from a plain local registry; latency rounds copy the same images from a TLS + token-auth
 * registry (the vendor's shape) reached through a delay proxy (a WAN-like link). In each round each tool copies into
 * its own fresh TLS + basic-auth registry (order alternating between rounds), then re-runs with nothing left to
 * copy. Prints per round our time, skopeo's, the ratio and our peak RSS, then a memory check (one small vs one huge
 * layer) and, last, the best ratios against their targets.
 *
 * Environment: see bench/README.md (BENCH_SCALE, BENCH_ROUNDS, BENCH_DELAY_ROUNDS, BENCH_DELAY_MS,
 * BENCH_CONNECTION_MBPS, BENCH_LINK_MBPS, BENCH_IMAGES, BENCH_CONCURRENCY, BENCH_PROFILE).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startRegistry, type TestRegistry } from "../tests/helpers/registry";
import { startDelayProxy, type DelayProfile } from "./delay-proxy";
import { generateRelease, generateSingleLayerImage } from "./generate";
import { measure } from "./measure";
import { profileCopier } from "./profile";
import { mustSucceed, runRound, type RoundResult, type RoundSetup } from "./round";
import { copierConfigDir, reachedAt } from "./targets";
import { addBenchModule } from "./module";

const REPO = "deckhouse/ee";
const DECKHOUSE_TAG = "v1.46.3";
const MiB = 1 << 20;
const MB = 1e6;
const RUN_TIMEOUT_MS = 30 * 60_000;
const TARGETS = { fresh: 0.35, rerun: 0.4, latencyFresh: 0.3, peakRssMb: 160 };

const num = (name: string, fallback: number, allowZero = false): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
};

const best = (results: RoundResult[], phase: "fresh" | "rerun"): number => Math.min(...results.map((r) => r[phase]));

async function main(): Promise<void> {
  const scale = num("BENCH_SCALE", 1);
  const rounds = Math.round(num("BENCH_ROUNDS", 2, true));
  const delayRounds = Math.round(num("BENCH_DELAY_ROUNDS", 1, true));
  const profile: DelayProfile = {
    delayMs: num("BENCH_DELAY_MS", 20, true),
    connectionBytesPerSecond: num("BENCH_CONNECTION_MBPS", 12.5) * MB,
    linkBytesPerSecond: num("BENCH_LINK_MBPS", 125) * MB,
  };
  const images = Math.max(120, Math.round(num("BENCH_IMAGES", 130)));
  const ourArgs = process.env.BENCH_CONCURRENCY ? ["--concurrency", String(num("BENCH_CONCURRENCY", 8))] : [];
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
  const closers: Array<() => Promise<void>> = [];

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

    const module = await addBenchModule(source, REPO, work, scale);
    console.log(`module: ${module.repos[0]}:v1.2.3 with 3 components (one multi-arch) and its release:stable (${module.images} images, copied with --with-modules)`);
    const setup = (label: string, round: number, via: TestRegistry, serving: TestRegistry): RoundSetup => ({
      label, round, bundle, source: via, serving, origin: source, repo: REPO, deckhouseTag: DECKHOUSE_TAG, imagesTags, tags: release.tags, work, timeFile,
      timeoutMs: RUN_TIMEOUT_MS, ourArgs: [...ourArgs, "--with-modules", module.file], extraRepos: module.repos, startTarget: () => start({ tls: true, auth: "basic" }), stopTarget: stop,
    });

    const loopback: RoundResult[] = [];
    for (let round = 1; round <= rounds; round++) loopback.push(await runRound(setup("loopback", round, source, source)));

    const latency: RoundResult[] = [];
    if (delayRounds > 0) {
      // The same images over TLS with token auth, as the vendor's registry serves them, through the delay proxy.
      const vendor = await start({ tls: true, auth: "token", storageDir: source.storageDir });
      const proxy = await startDelayProxy({ host: "127.0.0.1", port: Number(vendor.host.split(":")[1]) }, profile);
      closers.push(() => proxy.stop());
      console.log(
        `latency profile: source over TLS + token auth through a delay proxy: ${2 * profile.delayMs} ms round trip, ` +
          `${(profile.connectionBytesPerSecond! / MB).toFixed(1)} MB/s per connection, ${(profile.linkBytesPerSecond! / MB).toFixed(0)} MB/s in all ` +
          `(token service reached directly)`,
      );
      for (let round = 1; round <= delayRounds; round++) latency.push(await runRound(setup("latency", round, reachedAt(vendor, proxy.host), vendor)));
    }

    if (process.env.BENCH_PROFILE === "1") {
      await profileCopier({ bundle, source, repoAndTag: `${REPO}:${DECKHOUSE_TAG}`, imagesTags, work, images: release.tags.length });
    }

    // memory: one image with a small layer, then one with a huge layer; peak RSS should not follow the layer size
    let peak = Math.max(0, ...[...loopback, ...latency].map((r) => r.peakRssMb));
    const small = Math.round(16 * MiB * Math.min(1, scale * 4));
    const big = Math.round(1024 * MiB * scale);
    const memory: string[] = [];
    for (const [tag, size] of [["small", small], ["big", big]] as const) {
      await generateSingleLayerImage(source.url, "memcheck/ee", tag, size);
      const target = await start({ tls: true, auth: "basic" });
      const dir = copierConfigDir(join(work, `memcheck-${tag}`), source, target, `memcheck/ee:${tag}`, { memcheck: { image: tag } });
      const m = await measure(process.execPath, [bundle, "copy", "--config-dir", dir, ...ourArgs], { timeFile, timeoutMs: RUN_TIMEOUT_MS });
      mustSucceed(`our copier (memory check, ${tag})`, m);
      memory.push(`${(size / MiB).toFixed(0)} MiB layer: peak RSS ${m.peakRssMb.toFixed(0)} MB in ${(m.ms / 1000).toFixed(2)} s`);
      peak = Math.max(peak, m.peakRssMb);
      await stop(target);
    }
    console.log(`memory check (one single-layer image): ${memory.join("; ")}`);
    const parts = [];
    if (loopback.length > 0) {
      parts.push(`loopback fresh ${best(loopback, "fresh").toFixed(2)}x skopeo (target <= ${TARGETS.fresh})`);
      parts.push(`re-run ${best(loopback, "rerun").toFixed(2)}x (target <= ${TARGETS.rerun})`);
    }
    if (latency.length > 0) {
      parts.push(`latency fresh ${best(latency, "fresh").toFixed(2)}x (target <= ${TARGETS.latencyFresh})`);
      parts.push(`latency re-run ${best(latency, "rerun").toFixed(2)}x`);
    }
    parts.push(`our peak RSS ${peak.toFixed(0)} MB (target <= ${TARGETS.peakRssMb})`);
    console.log(`best ratios: ${parts.join("; ")}`);
  } finally {
    await Promise.all(closers.map((c) => c().catch(() => undefined)));
    await Promise.all([...registries].map((r) => r.stop().catch(() => undefined)));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
