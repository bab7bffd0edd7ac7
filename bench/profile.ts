/**
 * BENCH_PROFILE=1: where our copier's time goes. Copies the release once fresh and once again (nothing to do)
 * through counting proxies in front of the source and the target, prints requests per image by kind and client
 * connections, and prints the top functions by self time of a V8 CPU profile of each run.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { testCerts } from "../tests/helpers/certs";
import { startFaultProxy, type FaultProxy } from "../tests/helpers/fault-proxy";
import { startRegistry, type TestRegistry } from "../tests/helpers/registry";
import { measure } from "./measure";
import { copierConfigDir, reachedAt } from "./targets";

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

export function topSelfTime(file: string, count: number): string[] {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    if (!node) return;
    const f = node.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([k, v]) => `${((v / total) * 100).toFixed(1).padStart(5)}% ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}

function perImage(proxy: FaultProxy, images: number): string {
  return Object.entries(proxy.counts())
    .sort()
    .map(([k, v]) => `${k} ${(v / images).toFixed(2)}`)
    .join(", ");
}

export async function profileCopier(p: {
  bundle: string;
  source: TestRegistry;
  repoAndTag: string;
  imagesTags: Record<string, Record<string, string>>;
  work: string;
  images: number;
}): Promise<void> {
  const certs = await testCerts();
  const target = await startRegistry({ tls: true, auth: "basic" });
  const srcProxy = await startFaultProxy({ upstream: { host: p.source.host, scheme: p.source.scheme } });
  const dstProxy = await startFaultProxy({
    upstream: { host: target.host, scheme: "https", caPem: target.caPem },
    tls: { key: certs.keyPem, cert: certs.certPem },
  });
  try {
    const dir = join(p.work, "profile-config");
    copierConfigDir(dir, reachedAt(p.source, srcProxy.host), reachedAt(target, dstProxy.host), p.repoAndTag, p.imagesTags);
    for (const phase of ["fresh", "rerun"]) {
      srcProxy.resetCounters();
      dstProxy.resetCounters();
      const profDir = join(p.work, `cpu-prof-${phase}`);
      const args = ["--cpu-prof", `--cpu-prof-dir=${profDir}`];
      const m = await measure(process.execPath, [...args, p.bundle, "copy", "--config-dir", dir], { timeFile: join(p.work, "time-prof.txt"), timeoutMs: 30 * 60_000 });
      if (m.code !== 0) throw new Error(`profiled copy (${phase}) failed: ${m.stderr.slice(-1500)}`);
      console.log(`profile ${phase}: ${(m.ms / 1000).toFixed(2)} s through proxies; per image (${p.images}):`);
      console.log(`  source: ${perImage(srcProxy, p.images)}; connections ${srcProxy.connections()}`);
      console.log(`  target: ${perImage(dstProxy, p.images)}; connections ${dstProxy.connections()}`);
      const prof = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
      if (prof) {
        console.log(`  cpu profile (${m.selfCpu.toFixed(1)} CPU s), top self time:`);
        for (const line of topSelfTime(join(profDir, prof), 12)) console.log(`    ${line}`);
      }
    }
  } finally {
    await Promise.all([srcProxy.stop(), dstProxy.stop()]);
    await target.stop();
  }
}
