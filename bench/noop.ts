/**
 * `tsx bench/noop.ts [OTHER_BUNDLE]`: the no-op re-run (every image already in the target) profiled. One release of
 * BENCH_IMAGES + 1 images (default 141) is copied once, over TLS with token auth on the source and TLS with basic
 * auth on the target; then each bundle re-runs it BENCH_NOOP_RUNS times, interleaved (other, ours, other, ours, ...),
 * and once more through counting proxies. Printed per bundle: wall time and CPU seconds (GNU time) of each run, the
 * requests per image by kind on each side, and the start-up cost (`--help`: wall and CPU). Other work on the machine
 * shows in wall times far more than in CPU seconds and request counts: read those first.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { testCerts } from "../tests/helpers/certs";
import { startFaultProxy } from "../tests/helpers/fault-proxy";
import { startRegistry } from "../tests/helpers/registry";
import { generateRelease } from "./generate";
import { dirname } from "node:path";
import { measure, registryPid, type Measured } from "./measure";
import { mustSucceed, resultLine } from "./round";
import { topSelfTime } from "./profile";
import { addBenchModule } from "./module";
import { copierConfigDir, reachedAt } from "./targets";

const REPO = "deckhouse/ee";
const TAG = "v1.46.3";
const MiB = 1 << 20;

async function main(): Promise<void> {
  const ours = resolve(__dirname, "..", "dist", "images-copier.cjs");
  const other = process.argv[2] ? resolve(process.argv[2]) : undefined;
  const images = Math.max(10, Number(process.env.BENCH_IMAGES ?? 140));
  const runs = Math.max(1, Number(process.env.BENCH_NOOP_RUNS ?? 3));
  const work = mkdtempSync(join(tmpdir(), "images-copier-noop-"));
  const timeFile = join(work, "time.txt");
  const certs = await testCerts();
  const source = await startRegistry({ tls: true, auth: "token" });
  const target = await startRegistry({ tls: true, auth: "basic" });
  const srcProxy = await startFaultProxy({ upstream: { host: source.host, scheme: "https", caPem: source.caPem }, tls: { key: certs.keyPem, cert: certs.certPem } });
  const dstProxy = await startFaultProxy({ upstream: { host: target.host, scheme: "https", caPem: target.caPem }, tls: { key: certs.keyPem, cert: certs.certPem } });
  try {
    const plain = await startRegistry({ storageDir: source.storageDir });
    const imagesFile = join(work, "images_tags.json");
    await generateRelease({ origin: plain.url, repo: REPO, deckhouseTag: TAG, images, multiArch: 4, uniqueBytes: 24 * MiB, imagesTagsFile: imagesFile });
    await plain.stop();
    const list = JSON.parse(readFileSync(imagesFile, "utf8")) as Record<string, Record<string, string>>;
    const direct = copierConfigDir(join(work, "direct"), source, target, `${REPO}:${TAG}`, list);
    const counted = copierConfigDir(join(work, "counted"), reachedAt(source, srcProxy.host), reachedAt(target, dstProxy.host), `${REPO}:${TAG}`, list);
    const watchPids = [registryPid(dirname(source.logFile)), registryPid(dirname(target.logFile))];
    const run = (bundle: string, dir: string): Promise<Measured> =>
      measure(process.execPath, [bundle, "copy", "--config-dir", dir], { timeFile, timeoutMs: 10 * 60_000, watchPids });

    const fresh = await run(ours, direct);
    mustSucceed("fresh copy", fresh);
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(`load average at the start: ${load} (2 cores shared)`);
    console.log(`fresh copy (ours): ${(fresh.ms / 1000).toFixed(2)} s, ${fresh.selfCpu.toFixed(2)} CPU s; ${resultLine(fresh)}`);

    const bundles = other ? [["other", other], ["ours", ours]] : [["ours", ours]];
    const times: Record<string, string[]> = {};
    for (let i = 0; i < runs; i++) {
      for (const [name, bundle] of bundles) {
        const m = await run(bundle, direct);
        mustSucceed(`no-op (${name})`, m);
        (times[name] ??= []).push(`${(m.ms / 1000).toFixed(2)} s/${m.selfCpu.toFixed(2)} CPU s (registries ${m.cpu.map((c) => c.toFixed(2)).join("+")})`);
      }
    }
    const total = images + 1;
    for (const [name, bundle] of bundles) {
      srcProxy.resetCounters();
      dstProxy.resetCounters();
      const m = await run(bundle, counted);
      mustSucceed(`counted no-op (${name})`, m);
      const per = (counts: Record<string, number>) => {
        const all = Object.values(counts).reduce((a, b) => a + b, 0);
        const kinds = Object.entries(counts).sort().map(([k, v]) => `${k} ${(v / total).toFixed(2)}`).join(", ");
        return `${(all / total).toFixed(2)} (${kinds})`;
      };
      const help = await measure(process.execPath, [bundle, "--help"], { timeFile, timeoutMs: 60_000 });
      console.log(`${name}: no-op runs ${times[name].join(", ")}`);
      console.log(`  requests per image (${total} images): source ${per(srcProxy.counts())}; target ${per(dstProxy.counts())}; connections ${srcProxy.connections()}/${dstProxy.connections()}`);
      console.log(`  start-up (--help): ${(help.ms / 1000).toFixed(2)} s, ${help.selfCpu.toFixed(2)} CPU s`);
    }
    // the same no-op with the corpus's module (ours only: an older bundle has no --with-modules)
    const module = await addBenchModule(source, REPO, work, 0.05);
    const copyModuleArgs = (dir: string) => measure(process.execPath, [ours, "copy", "--config-dir", dir, "--with-modules", module.file], { timeFile, timeoutMs: 10 * 60_000, watchPids });
    mustSucceed("module copy", await copyModuleArgs(direct));
    srcProxy.resetCounters();
    dstProxy.resetCounters();
    const mod = await copyModuleArgs(counted);
    mustSucceed("counted no-op with the module", mod);
    const all = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    const n = total + module.images;
    console.log(
      `ours with the module (${n} images): no-op ${(mod.ms / 1000).toFixed(2)} s/${mod.selfCpu.toFixed(2)} CPU s through the proxies; requests per image: ` +
        `source ${(all(srcProxy.counts()) / n).toFixed(2)} (${Object.entries(srcProxy.counts()).sort().map(([k, v]) => `${k} ${v}`).join(", ")}), target ${(all(dstProxy.counts()) / n).toFixed(2)}`,
    );
    if (process.env.BENCH_PROFILE === "1") {
      const profDir = join(work, "cpu-prof");
      const m = await measure(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, ours, "copy", "--config-dir", direct], { timeFile, timeoutMs: 10 * 60_000 });
      mustSucceed("profiled no-op", m);
      const prof = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
      if (prof) {
        console.log(`ours, profiled no-op (${m.selfCpu.toFixed(2)} CPU s), top self time:`);
        for (const line of topSelfTime(join(profDir, prof), 15)) console.log(`  ${line}`);
      }
    }
  } finally {
    await Promise.all([srcProxy.stop(), dstProxy.stop()]);
    await Promise.all([source.stop(), target.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
