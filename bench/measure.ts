/**
 * Runs one command as a child process and measures it: wall time, peak resident memory (GNU time's %M, or the
 * child's polled VmHWM without it), exit code, and the CPU seconds that given registry processes spent meanwhile.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Measured {
  ms: number;
  peakRssMb: number;
  code: number;
  stdout: string;
  stderr: string;
  /** CPU seconds used by each watched process during the run */
  cpu: number[];
  /** CPU seconds (user + system) of the command itself, when GNU time is there */
  selfCpu: number;
}

const CLOCK_TICKS = 100;
const GNU_TIME = "/usr/bin/time";

/** PIDs of docker-registry processes whose command line mentions `dirPart` (the registry's temp dir). */
export function registryPid(dirPart: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.startsWith("docker-registry") && cmd.includes(dirPart)) return Number(entry);
    } catch {
      // gone
    }
  }
  return undefined;
}

export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime + stime
  } catch {
    return 0;
  }
}

export async function measure(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; watchPids?: Array<number | undefined>; timeFile: string; timeoutMs: number },
): Promise<Measured> {
  const watch = opts.watchPids ?? [];
  const cpuBefore = watch.map(cpuSeconds);
  rmSync(opts.timeFile, { force: true });
  const started = process.hrtime.bigint();
  // GNU time reports the exact peak; without it, poll the child's VmHWM (the kernel's own high-water mark).
  const gnuTime = existsSync(GNU_TIME);
  const child = gnuTime
    ? spawn(GNU_TIME, ["-f", "%M %U %S", "-o", opts.timeFile, command, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let polledKb = 0;
  const poller = gnuTime
    ? undefined
    : setInterval(() => {
        try {
          const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0);
          polledKb = Math.max(polledKb, kb);
        } catch {
          // exited
        }
      }, 20);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout = (stdout + d).slice(-200_000)));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-200_000)));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
  const code = await new Promise<number>((resolve) => child.once("close", (c) => resolve(c ?? 1)));
  clearTimeout(timer);
  if (poller) clearInterval(poller);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = watch.map((pid, i) => cpuSeconds(pid) - cpuBefore[i]);
  let peakRssMb = polledKb / 1024;
  let selfCpu = 0;
  if (gnuTime && existsSync(opts.timeFile)) {
    const [kb, user, sys] = (readFileSync(opts.timeFile, "utf8").trim().split("\n").pop() ?? "").split(" ").map(Number);
    if (Number.isFinite(kb)) peakRssMb = kb / 1024;
    if (Number.isFinite(user) && Number.isFinite(sys)) selfCpu = user + sys;
  }
  return { ms, peakRssMb, code, stdout, stderr, cpu, selfCpu };
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}
