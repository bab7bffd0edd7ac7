// The one layer the copier image adds to its base: the bundled copier at /opt/images-copier/images-copier.cjs.
// Reproducible byte for byte: fixed entries, modes, owners and timestamps (tar-stream writes the ustar headers),
// and gzip by fflate, a pinned pure-JavaScript deflate with a fixed header (no time, no file name). Node's zlib is
// not used here: its output changes with the zlib build Node ships and the OS byte of the gzip header, so the same
// bundle would give another layer digest on another machine or Node version.

import { gzipSync } from "fflate";
import { pack, type Header } from "tar-stream";
import { sha256Digest } from "../digest-verifier";

export const COPIER_DIR = "/opt/images-copier";
export const COPIER_PATH = `${COPIER_DIR}/images-copier.cjs`;
/** The unprivileged user the Job's pod runs as (the `node` user of the Node images). */
export const COPIER_UID = 1000;

const EPOCH = new Date(0);

export interface CopierLayer {
  /** The gzip-compressed tar: the blob pushed to the registry. */
  blob: Buffer;
  /** Digest of the blob. */
  digest: string;
  /** Digest of the uncompressed tar (the config's rootfs diff_id). */
  diffId: string;
}

export async function buildCopierLayer(bundle: Buffer): Promise<CopierLayer> {
  const owned = { uid: COPIER_UID, gid: COPIER_UID, mtime: EPOCH };
  const tar = await tarOf([
    // /opt itself stays as Debian has it (root, 0755); listed so the layer is complete on its own.
    [{ name: "opt/", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: EPOCH }],
    [{ name: `${COPIER_DIR.slice(1)}/`, type: "directory", mode: 0o755, ...owned }],
    [{ name: COPIER_PATH.slice(1), type: "file", mode: 0o755, size: bundle.length, ...owned }, bundle],
  ]);
  const blob = Buffer.from(gzipSync(tar, { level: 9, mtime: 0 }));
  return { blob, digest: sha256Digest(blob), diffId: sha256Digest(tar) };
}

async function tarOf(entries: Array<[Partial<Header> & { name: string }, Buffer?]>): Promise<Buffer> {
  const archive = pack();
  for (const [header, content] of entries) {
    if (content) archive.entry(header, content);
    else archive.entry(header);
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
