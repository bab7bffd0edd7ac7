/**
 * One benchmark round: our bundled CLI and `skopeo sync --all` each copy the release from the same source into
 * a fresh TLS + basic-auth registry of their own (order alternating by round), both targets are checked tag by
 * tag against the source, then both run again with nothing left to copy. Prints one line per phase.
 */
import { dirname, join } from "node:path";
import type { TestRegistry } from "../tests/helpers/registry";
import { measure, registryPid, type Measured } from "./measure";
import { copierConfigDir, missingOrDifferent, skopeoSyncArgs } from "./targets";

export interface RoundSetup {
  /** `loopback` or `latency`, printed at the start of each line. */
  label: string;
  round: number;
  bundle: string;
  /** The source as the tools reach it (directly, or through a delay proxy). */
  source: TestRegistry;
  /** The registry process serving the source (its CPU seconds are printed). */
  serving: TestRegistry;
  /** A registry holding the source images with plain access, for checking the copies. */
  origin: TestRegistry;
  repo: string;
  deckhouseTag: string;
  imagesTags: Record<string, Record<string, string>>;
  tags: string[];
  work: string;
  timeFile: string;
  timeoutMs: number;
  /** Extra arguments for our CLI (e.g. --concurrency, --with-modules). */
  ourArgs: string[];
  /** More repositories for skopeo to sync (the module's), each its own `skopeo sync` in the same measured run. */
  extraRepos?: string[];
  startTarget(): Promise<TestRegistry>;
  stopTarget(reg: TestRegistry): Promise<void>;
}

export interface RoundResult {
  fresh: number;
  rerun: number;
  peakRssMb: number;
}

const seconds = (m: Measured): string => (m.ms / 1000).toFixed(2).padStart(7);

/** CPU seconds of the source registry and the target registry written to in that run. */
const cpuList = (m: Measured): string => m.cpu.filter((c) => c > 0.005).map((c) => c.toFixed(1)).join("/");

export function resultLine(m: Measured): string {
  const line = m.stdout.trim().split("\n").reverse().find((l) => l.startsWith("images-copier result: "));
  return line ? line.slice("images-copier result: ".length) : "(no result line)";
}

export function mustSucceed(what: string, m: Measured): void {
  if (m.code !== 0) throw new Error(`${what} failed with exit ${m.code}:\n${m.stderr.slice(-2000)}\n${m.stdout.slice(-1000)}`);
}

export async function runRound(r: RoundSetup): Promise<RoundResult> {
  const oursTarget = await r.startTarget();
  const theirsTarget = await r.startTarget();
  try {
    const configDir = copierConfigDir(join(r.work, `config-${r.label}-${r.round}`), r.source, oursTarget, `${r.repo}:${r.deckhouseTag}`, r.imagesTags);
    const pid = (reg: TestRegistry) => registryPid(dirname(reg.logFile));
    const watch = [pid(r.serving), pid(oursTarget), pid(theirsTarget)];
    const ours = (): Promise<Measured> =>
      measure(process.execPath, [r.bundle, "copy", "--config-dir", configDir, ...r.ourArgs], { watchPids: watch, timeFile: r.timeFile, timeoutMs: r.timeoutMs });
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const syncs = [r.repo, ...(r.extraRepos ?? [])].map((repo) => ["skopeo", ...skopeoSyncArgs(r.source, theirsTarget, repo)].map(quote).join(" "));
    const theirs = (): Promise<Measured> =>
      syncs.length === 1
        ? measure("skopeo", skopeoSyncArgs(r.source, theirsTarget, r.repo), { watchPids: watch, timeFile: r.timeFile, timeoutMs: r.timeoutMs })
        : measure("sh", ["-c", syncs.join(" && ")], { watchPids: watch, timeFile: r.timeFile, timeoutMs: r.timeoutMs });
    const pair = async (): Promise<[Measured, Measured]> => {
      if (r.round % 2 === 1) {
        const a = await ours();
        return [a, await theirs()];
      }
      const b = await theirs();
      return [await ours(), b];
    };

    const result: RoundResult = { fresh: Infinity, rerun: Infinity, peakRssMb: 0 };
    for (const phase of ["fresh", "rerun"] as const) {
      const [a, b] = await pair();
      mustSucceed(`our copier (${r.label} ${phase}, round ${r.round})`, a);
      mustSucceed(`skopeo sync (${r.label} ${phase}, round ${r.round})`, b);
      const ratio = a.ms / b.ms;
      result[phase] = ratio;
      result.peakRssMb = Math.max(result.peakRssMb, a.peakRssMb);
      console.log(
        `${r.label} round ${r.round} ${phase.padEnd(5)}: ours ${seconds(a)} s, skopeo ${seconds(b)} s, ratio ${ratio.toFixed(2)}, ` +
          `our peak RSS ${a.peakRssMb.toFixed(0)} MB | CPU s: ours ${a.selfCpu.toFixed(1)} + registries ${cpuList(a)}, ` +
          `skopeo ${b.selfCpu.toFixed(1)} + registries ${cpuList(b)}`,
      );
      console.log(`  ours: ${resultLine(a)}`);
      if (phase === "fresh") {
        const badOurs = await missingOrDifferent(r.origin, oursTarget, r.repo, r.tags);
        const badTheirs = await missingOrDifferent(r.origin, theirsTarget, r.repo, r.tags);
        if (badOurs.length || badTheirs.length) {
          throw new Error(`incomplete copy: ours misses ${badOurs.length} tags, skopeo misses ${badTheirs.length}`);
        }
      }
    }
    return result;
  } finally {
    await Promise.all([r.stopTarget(oursTarget), r.stopTarget(theirsTarget)]);
  }
}
