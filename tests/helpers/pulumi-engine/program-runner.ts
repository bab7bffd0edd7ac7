// The program, run by the real Node language runtime the CLI uses: `node @pulumi/pulumi/cmd/run` with the CLI's
// flags and environment, TypeScript through the ts-node that @pulumi/pulumi vendors (transpile-only unless asked).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CHILD_NODE_ARGS, PULUMI_SDK_DIR } from "./runtime-modules";

export interface ProgramRun {
  exitCode: number | null;
  /** The program outlived its time limit and was killed. */
  timedOut: boolean;
}

export interface ProgramOptions {
  dir: string;
  /** `main` of Pulumi.yaml, or "." (package.json's main), as the CLI passes it. */
  main: string;
  project: string;
  stack: string;
  organization: string;
  monitor: string;
  preview: boolean;
  parallel: number;
  typescript: boolean;
  typeCheck: boolean;
  config: Record<string, string>;
  secretKeys: string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Killed when this aborts (an interrupted run). */
  signal?: AbortSignal;
  onLine: (stream: "stdout" | "stderr", line: string) => void;
}

export function runProgram(opts: ProgramOptions): Promise<ProgramRun> {
  const args = [
    ...CHILD_NODE_ARGS,
    join(PULUMI_SDK_DIR, "cmd", "run"),
    `--monitor=${opts.monitor}`,
    `--engine=${opts.monitor}`,
    `--project=${opts.project}`,
    `--stack=${opts.stack}`,
    `--organization=${opts.organization}`,
    `--root-directory=${opts.dir}`,
    `--pwd=${opts.dir}`,
    `--parallel=${opts.parallel}`,
    ...(opts.preview ? ["--dry-run"] : []),
    opts.main,
  ];
  const env: NodeJS.ProcessEnv = {
    ...opts.env,
    PULUMI_CONFIG: JSON.stringify(opts.config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(opts.secretKeys),
    ...(opts.typescript ? { PULUMI_NODEJS_TYPESCRIPT: "true", PULUMI_NODEJS_TRANSPILE_ONLY: opts.typeCheck ? "false" : "true" } : {}),
  };
  const child = spawn(process.execPath, args, { cwd: opts.dir, env, stdio: ["ignore", "pipe", "pipe"] });
  createInterface({ input: child.stdout }).on("line", (line) => opts.onLine("stdout", line));
  createInterface({ input: child.stderr }).on("line", (line) => opts.onLine("stderr", line));
  return new Promise<ProgramRun>((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    const kill = () => child.kill("SIGKILL");
    opts.signal?.addEventListener("abort", kill, { once: true });
    child.once("close", (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", kill);
      resolve({ exitCode: code, timedOut });
    });
  });
}
