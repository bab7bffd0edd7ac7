// skopeo (an independent client) as the judge of what a registry holds.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import type { TestRegistry } from "./registry";

export interface SkopeoResult {
  ok: boolean;
  stdout: Buffer;
  stderr: string;
}

function run(args: string[]): Promise<SkopeoResult> {
  return new Promise((resolve) => {
    execFile("skopeo", args, { encoding: "buffer", timeout: 60_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ ok: !error, stdout, stderr: stderr.toString("utf8") });
    });
  });
}

function transport(reg: TestRegistry, ref: string): string {
  return `docker://${reg.ref(ref)}`;
}

/** `skopeo inspect --raw` of `repo:tag` or `repo@sha256:…` (or a full reference in reg); throws with skopeo's stderr. */
export async function skopeoRaw(reg: TestRegistry, ref: string, opts: { retryTimes?: number } = {}): Promise<Buffer> {
  const args = ["inspect", "--raw", ...reg.skopeoFlags(), "--retry-times", String(opts.retryTimes ?? 0), transport(reg, ref)];
  const result = await run(args);
  if (!result.ok) throw new Error(`skopeo inspect --raw ${reg.ref(ref)} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

/** sha256 of the raw manifest bytes, as `sha256:<hex>`. */
export async function skopeoManifestDigest(reg: TestRegistry, ref: string): Promise<string> {
  const raw = await skopeoRaw(reg, ref);
  return `sha256:${createHash("sha256").update(raw).digest("hex")}`;
}

/** The digest, or undefined when skopeo cannot find the manifest (any failure counts as absent). */
export async function skopeoDigestOrAbsent(reg: TestRegistry, ref: string): Promise<string | undefined> {
  try {
    return await skopeoManifestDigest(reg, ref);
  } catch {
    return undefined;
  }
}

/** Tags of a repository via `skopeo list-tags` ([] when the repository does not exist). */
export async function skopeoListTags(reg: TestRegistry, repository: string): Promise<string[]> {
  const result = await run(["list-tags", ...reg.skopeoFlags(), transport(reg, repository)]);
  if (!result.ok) {
    if (/name unknown|not found|NAME_UNKNOWN/i.test(result.stderr)) return [];
    throw new Error(`skopeo list-tags ${reg.ref(repository)} failed: ${result.stderr.trim()}`);
  }
  return (JSON.parse(result.stdout.toString("utf8")) as { Tags: string[] | null }).Tags ?? [];
}

/** skopeoFlags() renamed for one side of `skopeo copy`/`sync`: `--tls-verify` → `--src-tls-verify` and so on. */
export function skopeoSideFlags(reg: TestRegistry, side: "src" | "dest"): string[] {
  return reg.skopeoFlags().map((flag) => flag.replace(/^--/, `--${side}-`));
}

/** `skopeo copy --all --preserve-digests` of one image between two test registries. */
export async function skopeoCopy(from: TestRegistry, fromRef: string, to: TestRegistry, toRef: string): Promise<void> {
  const result = await run([
    "copy", "--all", "--preserve-digests", "--retry-times", "0",
    ...skopeoSideFlags(from, "src"), ...skopeoSideFlags(to, "dest"),
    transport(from, fromRef), transport(to, toRef),
  ]);
  if (!result.ok) throw new Error(`skopeo copy ${from.ref(fromRef)} -> ${to.ref(toRef)} failed: ${result.stderr.trim()}`);
}

/** `skopeo inspect --raw --config`: the exact config blob of a single-platform manifest. */
export async function skopeoConfig(reg: TestRegistry, ref: string): Promise<Buffer> {
  const result = await run(["inspect", "--raw", "--config", ...reg.skopeoFlags(), "--retry-times", "0", transport(reg, ref)]);
  if (!result.ok) throw new Error(`skopeo inspect --raw --config ${reg.ref(ref)} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

/** `skopeo copy` of one single-platform image into a `dir:` layout (manifest.json and a file per blob, named by hex digest). */
export async function skopeoCopyToDir(reg: TestRegistry, ref: string, dir: string): Promise<void> {
  const result = await run(["copy", "--retry-times", "0", ...skopeoSideFlags(reg, "src"), transport(reg, ref), `dir:${dir}`]);
  if (!result.ok) throw new Error(`skopeo copy ${reg.ref(ref)} -> dir:${dir} failed: ${result.stderr.trim()}`);
}
