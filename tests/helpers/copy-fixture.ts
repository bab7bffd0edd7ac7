// Shared pieces of the copier's end-to-end tests and demo: the Secret's three files in a config dir, a check of a
// copied release with skopeo, output capture for in-process CLI runs, and request counts from a registry's log.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RepoConfigShape, TestRegistry } from "./registry";
import type { SeededRelease } from "./images";
import { skopeoDigestOrAbsent } from "./skopeo";

export interface ConfigDirFiles {
  dest: RepoConfigShape | string;
  source: RepoConfigShape | string;
  images?: Record<string, Record<string, string>> | string;
}

/** Writes dest-repo.json, d8-repo.json and (optionally) d8-images.json; strings are written verbatim. */
export function writeConfigDir(files: ConfigDirFiles, dir = mkdtempSync(join(tmpdir(), "images-copier-config-"))): string {
  const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  writeFileSync(join(dir, "dest-repo.json"), text(files.dest), { mode: 0o600 });
  writeFileSync(join(dir, "d8-repo.json"), text(files.source), { mode: 0o600 });
  if (files.images !== undefined) writeFileSync(join(dir, "d8-images.json"), text(files.images), { mode: 0o600 });
  return dir;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `images-copier-${prefix}-`));
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** `repo:value` or `repo@sha256:…` inside `targetRepository` (a path in the target registry). */
export function targetRef(targetRepository: string, value: string): string {
  return value.startsWith("sha256:") ? `${targetRepository}@${value}` : `${targetRepository}:${value}`;
}

export interface VerifyProblem {
  reference: string;
  expected: string;
  actual?: string;
}

/**
 * Checks with skopeo that every module image of the release (and every platform child of each index) is in
 * `targetRepository` with the source digest, and that the deckhouse image is at `targetImage` (`repo:tag`).
 * Returns the number of manifests verified and the problems found.
 */
export async function verifyCopiedRelease(
  target: TestRegistry,
  targetRepository: string,
  targetImage: string,
  release: SeededRelease,
): Promise<{ verified: number; problems: VerifyProblem[] }> {
  const checks: Array<{ reference: string; expected: string }> = [];
  for (const entry of release.entries) {
    checks.push({ reference: targetRef(targetRepository, entry.value), expected: entry.digest });
    for (const child of entry.children ?? []) checks.push({ reference: `${targetRepository}@${child}`, expected: child });
  }
  checks.push({ reference: targetImage, expected: release.deckhouseDigest });
  const problems: VerifyProblem[] = [];
  for (const check of checks) {
    const actual = await skopeoDigestOrAbsent(target, check.reference);
    if (actual !== check.expected) problems.push({ ...check, actual });
  }
  return { verified: checks.length - problems.length, problems };
}

/**
 * Requests in the registry's access log whose method (and, if given, status and path) match,
 * e.g. countLoggedRequests(reg, /^(PUT|POST|PATCH)$/, /^20/) for accepted writes.
 */
export function countLoggedRequests(reg: TestRegistry, method: RegExp, status: RegExp = /./, path: RegExp = /./): number {
  const log = readFileSync(reg.logFile, "utf8");
  let count = 0;
  for (const m of log.matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\/v2\/[^" ]*)[^"]*" (\d{3})/g)) {
    if (method.test(m[1]) && status.test(m[3]) && path.test(m[2])) count++;
  }
  return count;
}

/** Blob paths (not uploads) in an access-log path. */
export const BLOB_PATH = /\/blobs\/sha256:/;

export const WRITES = /^(PUT|POST|PATCH|DELETE)$/;

export interface Captured<T> {
  result: T;
  stdout: string;
  stderr: string;
}

/** Runs fn with process.stdout/stderr and console captured (nothing reaches the terminal). */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<Captured<T>> {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
  const toText = (args: unknown[]) => `${args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")}\n`;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return true;
  }) as typeof process.stderr.write;
  console.log = console.info = console.debug = (...args: unknown[]) => {
    stdout += toText(args);
  };
  console.warn = console.error = (...args: unknown[]) => {
    stderr += toText(args);
  };
  try {
    const result = await fn();
    return { result, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    Object.assign(console, saved);
  }
}

/** The last non-empty line of a text. */
export function lastLine(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines[lines.length - 1] ?? "";
}

/** Total size of the blobs (layers, configs and manifests) a registry stores. */
export function storedBlobBytes(reg: TestRegistry): number {
  const root = join(reg.storageDir, "docker", "registry", "v2", "blobs");
  let total = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name === "data") total += statSync(path).size;
    }
  };
  if (existsSync(root)) walk(root);
  return total;
}

/** Digest of every blob upload the registry accepted (PUT …/blobs/uploads/…?digest= answered 201), in log order. */
export function acceptedBlobUploads(reg: TestRegistry): string[] {
  const log = readFileSync(reg.logFile, "utf8");
  const digests: string[] = [];
  for (const m of log.matchAll(/"PUT \/v2\/[^"]*\/blobs\/uploads\/[^"]*[?&]digest=([^"&\s]+)[^"]*" 201/g)) {
    digests.push(decodeURIComponent(m[1]));
  }
  return digests;
}
