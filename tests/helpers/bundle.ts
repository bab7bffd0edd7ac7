// The bundled CLI (dist/images-copier.cjs), built on demand and run as a child process exactly as the Job runs it.
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

export const ROOT = resolve(__dirname, "..", "..");
export const BUNDLE = join(ROOT, "dist", "images-copier.cjs");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the bundle with scripts/bundle.js when it is missing or older than copier/. */
export async function ensureBundle(): Promise<string> {
  const stale = !existsSync(BUNDLE) || statSync(BUNDLE).mtimeMs < newestSource(join(ROOT, "copier"));
  if (stale) await promisify(execFile)(process.execPath, [join(ROOT, "scripts", "bundle.js")], { cwd: ROOT, timeout: 120_000 });
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} was not built`);
  return BUNDLE;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/images-copier.cjs ...args`, killed after timeoutMs; `echo` also streams its output to this process. */
export function runBundle(args: string[], opts: { timeoutMs?: number; echo?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const env = opts.env ? { ...process.env, ...opts.env } : process.env;
    const child = spawn(process.execPath, [BUNDLE, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
      if (opts.echo) process.stdout.write(d);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
      if (opts.echo) process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}
