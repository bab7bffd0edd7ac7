// A module image's own image list, `/images_digests.json`, read from the image's layers as they stream from the
// source: each layer is digest-checked, gunzipped (node zlib) and walked with tar-stream; nothing is written to
// disk and every size is bounded. The file of the top-most layer that has it wins, as in the image's file system
// (a whiteout in a later layer removes it); layers are read from the top down and the reading stops there. Deckhouse's module images carry it at the root (`d8 mirror` reads
// `images_digests.json` from the flattened image and copies each `sha256:` value as `<repo>/modules/<name>@…`).

import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import * as z from "zod";
import { DigestVerifier } from "./digest-verifier";
import { parseManifest, type Descriptor } from "./manifest";
import { downloadBlob } from "./registry/blob-download";
import type { ManifestData, RepositoryClient } from "./registry/client";
import type { RetryPolicy } from "./transport/retry";

export const LIST_FILE = "images_digests.json";
/** A module image is a few MB; refuse to read more than this (compressed, all layers together). */
export const MAX_MODULE_IMAGE_BYTES = 256 * 1024 * 1024;
/** Uncompressed bytes walked through, all layers together (a gzip bomb stops here). */
export const MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;
export const MAX_LIST_BYTES = 4 * 1024 * 1024;

export class ModuleListError extends Error {
  override name = "ModuleListError";
}

/** The distinct component digests the module image's list names (two levels at most, every value a digest). */
export async function readModuleDigests(
  src: RepositoryClient,
  manifest: ManifestData,
  what: string,
  opts: { retry: RetryPolicy; log?: (message: string) => void },
): Promise<string[]> {
  let parsed = parseManifest(manifest.bytes, manifest.contentType, what);
  if (parsed.kind === "index") {
    // A module image is single-platform; should one come as an index, its linux/amd64 child carries the files.
    const child = parsed.children.find((c) => c.platform?.os === "linux" && c.platform?.architecture === "amd64") ?? parsed.children[0];
    if (!child) throw new ModuleListError(`${what}: an empty image index, no ${LIST_FILE} inside`);
    const data = await src.getManifest(child.digest);
    parsed = parseManifest(data.bytes, data.contentType ?? child.mediaType, what);
    if (parsed.kind === "index") throw new ModuleListError(`${what}: a nested image index, no ${LIST_FILE} inside`);
  }
  const layers = parsed.blobs.slice(1); // the config blob comes first
  const total = layers.reduce((sum, l) => sum + l.size, 0);
  if (total > MAX_MODULE_IMAGE_BYTES) {
    throw new ModuleListError(`${what}: layers of ${total} bytes, more than the ${MAX_MODULE_IMAGE_BYTES} a module image may have`);
  }
  const budget = { unpacked: 0 };
  // From the top layer down: the first layer with an entry for the file (or a whiteout) decides, and the layers
  // below it (a module's big dependency layers, usually) are never downloaded.
  let text: string | undefined;
  for (const layer of [...layers].reverse()) {
    const found = await scanLayer(src, layer, what, budget, opts);
    if (found === "untouched") continue;
    text = found === "removed" ? undefined : found;
    break;
  }
  if (text === undefined) throw new ModuleListError(`${what}: no ${LIST_FILE} in the module image`);
  return digestsOf(text, what);
}

/** What one layer does to the list file: its new content, "removed" (a whiteout), or "untouched". */
async function scanLayer(
  src: RepositoryClient,
  layer: Descriptor,
  what: string,
  budget: { unpacked: number },
  opts: { retry: RetryPolicy; log?: (message: string) => void },
): Promise<string | "removed" | "untouched"> {
  const type = layer.mediaType ?? "";
  if (/zstd/.test(type)) throw new ModuleListError(`${what}: layer ${layer.digest} is zstd-compressed (${type}); only gzip and plain tar layers are read`);
  const gzip = /gzip/.test(type);
  let outcome: string | "removed" | "untouched" = "untouched";
  const tar = extract();
  tar.on("entry", (header, stream, next) => {
    const name = header.name.replace(/^(\.\/|\/)+/, "");
    if (name === `.wh.${LIST_FILE}` || name === ".wh..wh..opq") {
      outcome = "removed";
      stream.resume();
      stream.on("end", next);
      return;
    }
    if (name !== LIST_FILE || header.type !== "file") {
      stream.resume();
      stream.on("end", next);
      return;
    }
    if ((header.size ?? 0) > MAX_LIST_BYTES) {
      stream.destroy();
      next(new ModuleListError(`${what}: ${LIST_FILE} has ${header.size} bytes, more than ${MAX_LIST_BYTES}`));
      return;
    }
    const chunks: Buffer[] = [];
    stream.on("data", (c) => chunks.push(c as Buffer));
    stream.on("end", () => {
      outcome = Buffer.concat(chunks).toString("utf8");
      next();
    });
  });
  const controller = new AbortController();
  const body = await downloadBlob(src, layer.digest, layer.size, { retry: opts.retry, signal: controller.signal, onResume: opts.log });
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      budget.unpacked += chunk.length;
      if (budget.unpacked > MAX_UNPACKED_BYTES) done(new ModuleListError(`${what}: layers unpack to more than ${MAX_UNPACKED_BYTES} bytes`));
      else done(null, chunk);
    },
  });
  try {
    const stages = [body, new DigestVerifier(layer.digest, layer.size), ...(gzip ? [createGunzip()] : []), counter, tar];
    await (pipeline as (...streams: unknown[]) => Promise<void>)(...stages);
  } catch (err) {
    controller.abort();
    if (err instanceof ModuleListError) throw err;
    throw new ModuleListError(`${what}: layer ${layer.digest} cannot be read as a ${gzip ? "gzip " : ""}tar (${(err as Error).message})`);
  }
  return outcome;
}

/** `{"image": "sha256:…"}` or `{"module": {"image": "sha256:…"}}`; each value must be a digest. */
function digestsOf(text: string, what: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModuleListError(`${what}: ${LIST_FILE} is not valid JSON (${(err as Error).message})`);
  }
  const shape = z.record(z.string(), z.union([z.string(), z.record(z.string(), z.string())])).safeParse(json);
  if (!shape.success) throw new ModuleListError(`${what}: ${LIST_FILE} is not an object of image names to digests`);
  const digests = new Set<string>();
  for (const [key, value] of Object.entries(shape.data)) {
    const entries = typeof value === "string" ? [[key, value] as const] : Object.entries(value).map(([k, v]) => [`${key}.${k}`, v] as const);
    for (const [name, digest] of entries) {
      if (!/^sha256:[a-f0-9]{64}$/.test(digest)) {
        throw new ModuleListError(`${what}: ${LIST_FILE} names ${JSON.stringify(digest).slice(0, 80)} under "${name}", not a sha256 digest`);
      }
      digests.add(digest);
    }
  }
  return [...digests];
}
