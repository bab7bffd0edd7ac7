// The copier's image as an operator makes it without Docker: a small base image made here (an OCI index of
// linux/amd64 and linux/arm64 whose one layer is a real gzip tar, so a pull can unpack every layer), then the real
// `images-copier publish-image` (in-process, the password on stdin) into a test registry.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { runCli } from "../../copier";
import { captureOutput, lastLine } from "./copy-fixture";
import { MEDIA, pushBlob, pushIndex, pushManifestBytes, sha256, type PushedManifest } from "./images";
import type { TestRegistry } from "./registry";

const execFileAsync = promisify(execFile);

const PLATFORMS = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64", variant: "v8" },
];

/** A gzip tar of `files` (path -> content) made by the system tar, with its diff_id. */
async function tarLayer(work: string, files: Record<string, string>): Promise<{ blob: Buffer; diffId: string }> {
  const root = join(work, "layer-root");
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  const file = join(work, "layer.tar.gz");
  await execFileAsync("tar", ["-czf", file, "-C", root, "--owner=0", "--group=0", ...Object.keys(files)]);
  const blob = readFileSync(file);
  return { blob, diffId: sha256(gunzipSync(blob)) };
}

/** A small OCI base index in `reg` (`repository:tag`), one real tar layer shared by both platforms. */
export async function pushSmallBase(reg: TestRegistry, repository: string, tag: string, work: string): Promise<PushedManifest> {
  const layer = await tarLayer(work, { "etc/base-release": "test base for images-copier\n" });
  const pushedLayer = await pushBlob(reg, repository, layer.blob);
  const children: PushedManifest[] = [];
  for (const platform of PLATFORMS) {
    const config = Buffer.from(
      JSON.stringify({
        ...platform,
        created: "2024-01-01T00:00:00Z",
        config: { Env: ["PATH=/usr/local/bin:/usr/bin:/bin"], Cmd: ["node"] },
        rootfs: { type: "layers", diff_ids: [layer.diffId] },
        history: [{ created: "2024-01-01T00:00:00Z", created_by: "ADD base-release /etc/" }],
      }),
    );
    const pushedConfig = await pushBlob(reg, repository, config);
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, ...pushedConfig },
      layers: [{ mediaType: MEDIA.ociLayer, ...pushedLayer }],
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = await pushManifestBytes(reg, repository, bytes, MEDIA.ociManifest);
    children.push({ mediaType: MEDIA.ociManifest, size: bytes.length, digest, bytes, platform, blobs: [pushedConfig.digest, pushedLayer.digest] });
  }
  return pushIndex(reg, repository, "oci", children, tag);
}

/**
 * `images-copier publish-image --target <reg>/<target> --base <reg>/<base> --bundle <bundle>` with the registry's
 * user, its password on stdin and its CA; returns the pinned reference it printed last.
 */
export async function publishCopierImage(reg: TestRegistry, opts: { target: string; base: string; bundle: string }): Promise<string> {
  const args = ["publish-image", "--bundle", opts.bundle, "--target", reg.ref(opts.target), "--base", reg.ref(opts.base), "--username", reg.username as string, "--password-stdin"];
  if (reg.caFile) args.push("--ca", reg.caFile);
  const run = await captureOutput(() => runCli(args, { stdin: Readable.from([reg.password as string]) }));
  if (run.result !== 0) throw new Error(`publish-image exited ${run.result}: ${run.stderr.trim()}`);
  return lastLine(run.stdout);
}
