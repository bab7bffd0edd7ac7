// The base image as the copier image needs it: the manifest the reference names, and for every requested platform
// the base's platform manifest (an index's matching entries, or a single-platform manifest) with its config.

import { pipeline } from "node:stream/promises";
import { DigestVerifier } from "../digest-verifier";
import { parseManifest, type Descriptor } from "../manifest";
import type { RepositoryClient } from "../registry/client";
import { imageManifestParts, type ImageManifestParts } from "./image-manifest";
import { formatPlatform, platformMatches, PlatformError, type Platform } from "./platform";

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export interface BasePlatform {
  /** The platform as the base's index lists it (for a single manifest: os, architecture, variant of its config). */
  platform: Record<string, unknown>;
  digest: string;
  mediaType: string;
  parts: ImageManifestParts;
  /** The layers to bring into the target repository (foreign layers live elsewhere and are left out). */
  blobs: Descriptor[];
  config: Buffer;
}

export interface BaseImage {
  digest: string;
  /** Media type of the manifest the reference names: an index type, or an image manifest type. */
  mediaType: string;
  isIndex: boolean;
  platforms: BasePlatform[];
}

/** Reads the base `name` (`repo:tag` or `repo@digest`, at `ref` in `client`) for the `wanted` platforms. */
export async function readBaseImage(client: RepositoryClient, ref: string, wanted: Platform[], name: string): Promise<BaseImage> {
  const top = await client.getManifest(ref);
  const parsed = parseManifest(top.bytes, top.contentType, name);
  if (parsed.kind === "index") {
    const offered = [...new Set(parsed.children.map((c) => formatPlatform(c.platform)))].filter((p) => p !== "unknown/unknown");
    for (const w of wanted) {
      if (!parsed.children.some((c) => platformMatches(w, c.platform))) {
        throw new PlatformError(`base image ${name} has no ${formatPlatform(w)} image (it has ${offered.join(", ") || "none"})`);
      }
    }
    const children = parsed.children.filter((c) => wanted.some((w) => platformMatches(w, c.platform)));
    const platforms = await Promise.all(
      children.map(async (child) => {
        const data = await client.getManifest(child.digest);
        return readPlatform(client, data.bytes, data.contentType ?? child.mediaType, child.digest, `${name} (${formatPlatform(child.platform)})`, child.platform);
      }),
    );
    return { digest: top.digest, mediaType: parsed.mediaType, isIndex: true, platforms };
  }
  const single = await readPlatform(client, top.bytes, top.contentType, top.digest, name);
  const own = single.platform as Partial<Platform>;
  if (wanted.length !== 1 || !platformMatches(wanted[0], own)) {
    throw new PlatformError(
      `base image ${name} is a single-platform image (${formatPlatform(own)}), not an index of ${wanted.map(formatPlatform).join(", ")}; ` +
        `use an image index as the base, or ask for its platform alone (--platform ${formatPlatform(own)})`,
    );
  }
  return { digest: top.digest, mediaType: parsed.mediaType, isIndex: false, platforms: [single] };
}

async function readPlatform(
  client: RepositoryClient,
  bytes: Buffer,
  contentType: string | undefined,
  digest: string,
  what: string,
  listed?: Record<string, unknown>,
): Promise<BasePlatform> {
  const parsed = parseManifest(bytes, contentType, what);
  if (parsed.kind !== "image") throw new Error(`${what}: an index inside an index is not supported as a base`);
  const parts = imageManifestParts(bytes, what);
  const config = await readConfig(client, parts.config, what);
  const platform = listed ?? platformOfConfig(config);
  return { platform, digest, mediaType: parsed.mediaType, parts, blobs: parsed.blobs.slice(1), config };
}

/** A config blob, read whole (it is small) and checked against its digest and size. */
export async function readConfig(client: RepositoryClient, descriptor: Descriptor, what: string): Promise<Buffer> {
  if (descriptor.size > MAX_CONFIG_BYTES) throw new Error(`${what}: the image config is larger than ${MAX_CONFIG_BYTES} bytes`);
  const chunks: Buffer[] = [];
  await pipeline((await client.getBlob(descriptor.digest)).body, new DigestVerifier(descriptor.digest, descriptor.size), async (verified: AsyncIterable<Buffer>) => {
    for await (const chunk of verified) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

function platformOfConfig(config: Buffer): Record<string, unknown> {
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(config.toString("utf8")) as Record<string, unknown>;
  } catch {
    // an unreadable config is refused when it is edited; here it only has no platform
  }
  const pick = (key: string) => (typeof json[key] === "string" ? { [key]: json[key] } : {});
  return { ...pick("os"), ...pick("architecture"), ...pick("variant") };
}
