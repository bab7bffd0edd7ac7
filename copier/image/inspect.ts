// What a registry holds under a copier image reference, for the copy stack to decide at program time how the Job
// runs it: the manifest digest the reference resolves to (so a tag can be pinned), and whether the image carries the
// copier, told by the label `publish-image` puts in every platform's config (image-config.ts, LABELS).

import type { RegistryAccess } from "../check-images";
import { parseManifest, type Descriptor } from "../manifest";
import { formatReference, formatRepository, InvalidReferenceError, manifestReference, parseImageReference, registryEndpoint } from "../reference";
import { RepositoryClient } from "../registry/client";
import { RegistryError } from "../registry/errors";
import { pullScope } from "../transport/auth";
import { redact } from "../transport/redact";
import type { RetryPolicy } from "../transport/retry";
import { RegistryTransport } from "../transport/transport";
import { readConfig } from "./base-image";
import { LABELS } from "./image-config";
import { formatPlatform } from "./platform";

/** A program waits for this, not a copy: fewer and shorter retries than a copy's. */
const INSPECT_RETRY: Partial<RetryPolicy> = { maxAttempts: 3, maxElapsedMs: 30_000 };

export interface InspectedCopierImage {
  /** `registry/repository@sha256:…`: the reference pinned to what the registry holds now. */
  pinned: string;
  digest: string;
  mediaType: string;
  /** Every platform image (attestation entries of an index left out) with its config's labels. */
  platforms: Array<{ platform: string; digest: string; labels: Record<string, string> }>;
  /** Set when EVERY platform's config carries publish-image's labels with one bundle digest: the image holds the copier. */
  copier?: { bundleDigest: string; version?: string };
}

/** The registry holds nothing under the reference (404: MANIFEST_UNKNOWN, NAME_UNKNOWN). */
export class ImageNotFoundError extends Error {
  override name = "ImageNotFoundError";
}

export interface InspectOptions {
  retry?: Partial<RetryPolicy>;
}

/**
 * Reads `reference` (`repo:tag` or `repo@sha256:…`) from its registry with `access`: the manifest, and for an index
 * every platform manifest and config. Rejects with ImageNotFoundError when the registry has no such manifest; other
 * failures (credentials, TLS, network) are RegistryErrors or connection errors, with no credential in the message.
 */
export async function inspectCopierImage(reference: string, access: RegistryAccess, options: InspectOptions = {}): Promise<InspectedCopierImage> {
  const ref = parseImageReference(reference);
  if (!ref.tag && !ref.digest) throw new InvalidReferenceError(`image reference "${reference}" has neither a tag nor a digest`);
  const name = formatReference(ref);
  const transport = new RegistryTransport(registryEndpoint(ref.registry), {
    username: access.username || undefined,
    password: access.password || undefined,
    insecure: access.insecure,
    ca: access.ca,
    proxy: access.proxy,
    connections: 4,
    retry: { ...INSPECT_RETRY, ...options.retry },
  });
  const client = new RepositoryClient(transport, ref.repository, [pullScope(ref.repository)]);
  try {
    const top = await getManifest(client, manifestReference(ref), name);
    const parsed = parseManifest(top.bytes, top.contentType, name);
    const images: Array<{ platform: string; digest: string; bytes: Buffer; contentType?: string }> =
      parsed.kind === "image"
        ? [{ platform: "", digest: top.digest, bytes: top.bytes, contentType: top.contentType }]
        : await Promise.all(
            parsed.children.filter(isPlatformImage).map(async (child) => {
              const data = await getManifest(client, child.digest, `${name} (${formatPlatform(child.platform)})`);
              return { platform: formatPlatform(child.platform), digest: child.digest, bytes: data.bytes, contentType: data.contentType ?? child.mediaType };
            }),
          );
    const platforms = await Promise.all(
      images.map(async (image) => {
        const what = image.platform ? `${name} (${image.platform})` : name;
        const manifest = parseManifest(image.bytes, image.contentType, what);
        if (manifest.kind !== "image") throw new RegistryError(`${what}: an index inside an index is not a runnable image`, 0);
        const config = await readConfig(client, manifest.blobs[0], what);
        const { labels, platform } = configLabels(config);
        return { platform: image.platform || platform, digest: image.digest, labels };
      }),
    );
    return { pinned: `${formatRepository(ref)}@${top.digest}`, digest: top.digest, mediaType: parsed.mediaType, platforms, copier: copierOf(platforms) };
  } finally {
    await transport.close();
  }
}

/** Index entries that are images to run: not attestation manifests (buildx lists them as unknown/unknown). */
function isPlatformImage(child: Descriptor): boolean {
  const annotations = (child as { annotations?: Record<string, string> }).annotations;
  if (annotations?.["vnd.docker.reference.type"] === "attestation-manifest") return false;
  return child.platform?.os !== "unknown" && child.platform?.architecture !== "unknown";
}

async function getManifest(client: RepositoryClient, value: string, name: string) {
  try {
    return await client.getManifest(value);
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) {
      const why = error.codes.length > 0 ? error.codes.join(", ") : "404";
      throw new ImageNotFoundError(`${name}: the registry has no such image (${why})`);
    }
    if (error instanceof Error) error.message = redact(error.message);
    throw error;
  }
}

function configLabels(config: Buffer): { labels: Record<string, string>; platform: string } {
  let json: { os?: unknown; architecture?: unknown; variant?: unknown; config?: { Labels?: unknown } | null } = {};
  try {
    json = JSON.parse(config.toString("utf8")) as typeof json;
  } catch {
    // a config that is not JSON has no labels
  }
  const raw = json.config?.Labels;
  const labels: Record<string, string> = {};
  if (raw && typeof raw === "object") for (const [k, v] of Object.entries(raw)) if (typeof v === "string") labels[k] = v;
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  return { labels, platform: formatPlatform({ os: text(json.os), architecture: text(json.architecture), variant: text(json.variant) }) };
}

function copierOf(platforms: InspectedCopierImage["platforms"]): InspectedCopierImage["copier"] {
  const digests = new Set(platforms.map((p) => p.labels[LABELS.bundleDigest]));
  const [bundleDigest] = [...digests];
  if (platforms.length === 0 || digests.size !== 1 || !bundleDigest) return undefined;
  const version = platforms[0].labels[LABELS.version];
  return { bundleDigest, ...(version ? { version } : {}) };
}
