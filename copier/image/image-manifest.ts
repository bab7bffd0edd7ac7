// Manifests of the copier image, in the base's own media types (Docker v2 or OCI, as each base manifest is): a
// platform's manifest is the base's layers plus the copier layer, with the new config; the index lists the platform
// manifests with the platforms the base's index gave them. Compact JSON: the same inputs give the same bytes.

import * as z from "zod";
import { descriptorSchema, MEDIA_TYPES, type Descriptor } from "../manifest";
import { sha256Digest } from "../digest-verifier";

const LAYER_MEDIA_TYPE: Record<string, string> = {
  [MEDIA_TYPES.dockerManifest]: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  [MEDIA_TYPES.ociManifest]: "application/vnd.oci.image.layer.v1.tar+gzip",
};

const imageManifestSchema = z.object({ schemaVersion: z.literal(2), config: descriptorSchema, layers: z.array(descriptorSchema) }).loose();

export interface ImageManifestParts {
  config: Descriptor;
  /** Every layer as the base lists it (foreign layers included: the new manifest must list them too). */
  layers: Descriptor[];
}

/** Config and layers of an image manifest already recognised by parseManifest. */
export function imageManifestParts(bytes: Buffer, what: string): ImageManifestParts {
  const parsed = imageManifestSchema.safeParse(JSON.parse(bytes.toString("utf8")));
  if (!parsed.success) throw new Error(`${what}: malformed image manifest`);
  return { config: parsed.data.config, layers: parsed.data.layers };
}

export interface BuiltManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

export function copierManifest(
  mediaType: string,
  base: ImageManifestParts,
  config: { bytes: Buffer; digest: string },
  layer: { blob: Buffer; digest: string },
): BuiltManifest {
  const layerType = LAYER_MEDIA_TYPE[mediaType];
  if (!layerType) throw new Error(`no layer media type for manifests of type ${mediaType}`);
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: base.config.mediaType, size: config.bytes.length, digest: config.digest },
    layers: [...base.layers, { mediaType: layerType, size: layer.blob.length, digest: layer.digest }],
  };
  return built(manifest, mediaType);
}

export interface IndexEntry {
  manifest: BuiltManifest;
  platform: Record<string, unknown>;
}

/** The index over the platform manifests, of the base index's own media type (Docker manifest list or OCI index). */
export function copierIndex(mediaType: string, entries: IndexEntry[]): BuiltManifest {
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: entries.map((e) => ({ mediaType: e.manifest.mediaType, size: e.manifest.bytes.length, digest: e.manifest.digest, platform: e.platform })),
  };
  return built(index, mediaType);
}

function built(value: unknown, mediaType: string): BuiltManifest {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, digest: sha256Digest(bytes), mediaType };
}
