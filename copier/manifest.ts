// Manifest media types and the parts of a manifest the copier relies on, read with zod. Manifests are kept as
// the exact bytes received; parsing only finds what they point at (child manifests, config and layer blobs).

import * as z from "zod";

export const MEDIA_TYPES = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** Accept header for manifest requests: every type we copy (schema 1 deliberately absent). */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
].join(", ");

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.dockerList, MEDIA_TYPES.ociIndex]);
const IMAGE_TYPES = new Set<string>([MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest]);

const digestSchema = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/, "invalid digest");

export const descriptorSchema = z
  .object({
    mediaType: z.string().optional(),
    digest: digestSchema,
    size: z.number().int().nonnegative(),
    urls: z.array(z.string()).optional(),
    platform: z.object({ architecture: z.string().optional(), os: z.string().optional(), variant: z.string().optional() }).loose().optional(),
  })
  .loose();
export type Descriptor = z.infer<typeof descriptorSchema>;

const imageManifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    config: descriptorSchema,
    layers: z.array(descriptorSchema),
    subject: descriptorSchema.optional(),
  })
  .loose();

const indexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    manifests: z.array(descriptorSchema),
    subject: descriptorSchema.optional(),
  })
  .loose();

export class ManifestError extends Error {
  override name = "ManifestError";
}

export type ParsedManifest =
  | { kind: "index"; mediaType: string; children: Descriptor[] }
  | { kind: "image"; mediaType: string; blobs: Descriptor[] };

/**
 * Reads a manifest's bytes. `contentType` is the registry's Content-Type (parameters ignored), used when the body
 * has no `mediaType`. Schema 1 and unknown types are refused with a message naming `what`.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ManifestError(`${what}: the manifest is not valid JSON`);
  }
  const header = contentType?.split(";")[0].trim().toLowerCase();
  const declared = typeof json === "object" && json !== null ? (json as { mediaType?: unknown }).mediaType : undefined;
  const schemaVersion = typeof json === "object" && json !== null ? (json as { schemaVersion?: unknown }).schemaVersion : undefined;
  if (
    schemaVersion === 1 ||
    header === MEDIA_TYPES.dockerSchema1 ||
    header === MEDIA_TYPES.dockerSchema1Signed ||
    declared === MEDIA_TYPES.dockerSchema1 ||
    declared === MEDIA_TYPES.dockerSchema1Signed
  ) {
    throw new ManifestError(
      `${what}: Docker schema 1 manifests are not supported (deprecated format; re-push the image with a current docker or buildah)`,
    );
  }
  let mediaType = typeof declared === "string" ? declared : header;
  if (!mediaType || (!INDEX_TYPES.has(mediaType) && !IMAGE_TYPES.has(mediaType))) {
    // An OCI manifest may omit mediaType and be served as application/json: tell by its shape.
    const obj = json as Record<string, unknown>;
    if (obj && Array.isArray(obj.manifests)) mediaType = MEDIA_TYPES.ociIndex;
    else if (obj && obj.config && Array.isArray(obj.layers)) mediaType = MEDIA_TYPES.ociManifest;
    else throw new ManifestError(`${what}: unsupported manifest media type "${mediaType ?? "none"}"`);
  }
  if (INDEX_TYPES.has(mediaType)) {
    const parsed = indexSchema.safeParse(json);
    if (!parsed.success) throw new ManifestError(`${what}: malformed image index (${firstIssue(parsed.error)})`);
    return { kind: "index", mediaType, children: parsed.data.manifests };
  }
  const parsed = imageManifestSchema.safeParse(json);
  if (!parsed.success) throw new ManifestError(`${what}: malformed image manifest (${firstIssue(parsed.error)})`);
  // Foreign layers (with `urls`, e.g. Windows base layers) live outside the registry and are not copied.
  const layers = parsed.data.layers.filter((l) => !(l.urls && l.urls.length > 0 && /foreign|nondistributable/.test(l.mediaType ?? "")));
  return { kind: "image", mediaType, blobs: [parsed.data.config, ...layers] };
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join(".") || "manifest"}: ${issue.message}` : "invalid";
}
