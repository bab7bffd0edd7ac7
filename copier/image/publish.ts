// publishCopierImage: the copier's own image, built and pushed without Docker. Reads the base image (every requested
// platform), adds the copier layer and the edited config per platform, then pushes in the registry's order: blobs
// (the base's layers mounted from the base repository on the same registry, skipped when present, otherwise copied
// streamed and digest-checked by the copy executor; the copier layer and configs uploaded), the platform manifests
// by digest, and last the index (or, for a single-platform base, the manifest) under the target's tag.

import type { RegistryAccess } from "../check-images";
import { sha256Digest } from "../digest-verifier";
import { Executor } from "../execute";
import { Pool } from "../pool";
import { ProgressTracker, formatBytes } from "../progress";
import {
  formatReference,
  formatRepository,
  InvalidReferenceError,
  parseImageReference,
  parseTaggedReference,
  registryEndpoint,
} from "../reference";
import { RepositoryClient } from "../registry/client";
import { RegistryError } from "../registry/errors";
import { pullScope, pushScope } from "../transport/auth";
import { redact } from "../transport/redact";
import { DEFAULT_RETRY, type RetryPolicy } from "../transport/retry";
import { RegistryTransport } from "../transport/transport";
import { readBaseImage } from "./base-image";
import { pushBlobBytes } from "./blob-push";
import { copierImageConfig } from "./image-config";
import { copierIndex, copierManifest, type BuiltManifest } from "./image-manifest";
import { buildCopierLayer } from "./layer";
import { formatPlatform, type Platform } from "./platform";

export interface PublishOptions {
  /** `registry/repository:tag`: where the image goes (the tag is mandatory). */
  target: string;
  /** `registry/repository:tag` or `…@sha256:…`. */
  base: string;
  platforms: Platform[];
  /** The bundled copier, `dist/images-copier.cjs`. */
  bundle: Buffer;
  /** The copier's version, for the image's label. */
  version: string;
  targetAccess: RegistryAccess;
  /** Access to the base's registry when it is not the target's (on the same registry the target's is used). */
  baseAccess: RegistryAccess;
  /** Concurrent network operations (default 8). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** What was done, a line at a time. */
  log?: (line: string) => void;
  /** Retries and registry warnings. */
  warn?: (line: string) => void;
}

export interface PublishedImage {
  /** `registry/repository@sha256:…`: the image pinned by digest. */
  reference: string;
  tag: string;
  digest: string;
  mediaType: string;
  base: { reference: string; digest: string };
  platforms: Array<{ platform: string; digest: string }>;
  bundleDigest: string;
  /** Bytes of the base's layers copied into the target (mounted or present ones cost nothing). */
  copiedBytes: number;
}

export async function publishCopierImage(options: PublishOptions): Promise<PublishedImage> {
  const log = (line: string) => options.log?.(redact(line));
  const warn = (line: string) => options.warn?.(redact(line));
  const target = parseTaggedReference(options.target, "target image");
  const base = parseImageReference(options.base);
  const baseRef = base.digest ?? base.tag;
  if (!baseRef) throw new InvalidReferenceError(`base image "${options.base}" has neither a tag nor a digest`);
  if (options.platforms.length === 0) throw new InvalidReferenceError("no platform asked for");
  if (formatRepository(base) === formatRepository(target) && base.tag === target.tag && !base.digest) {
    throw new InvalidReferenceError(`target image "${options.target}" is the base image itself; publish the copier under another tag`);
  }
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const concurrency = options.concurrency ?? 8;
  const sameRegistry = base.registry === target.registry;

  const connect = (registry: string, access: RegistryAccess) =>
    new RegistryTransport(registryEndpoint(registry), {
      username: access.username || undefined,
      password: access.password || undefined,
      insecure: access.insecure,
      ca: access.ca,
      proxy: access.proxy,
      connections: concurrency + 2,
      retry,
      onWarning: warn,
      onRetry: warn,
    });
  const targetTransport = connect(target.registry, options.targetAccess);
  const baseTransport = sameRegistry ? targetTransport : connect(base.registry, options.baseAccess);
  // On one registry the token also carries pull on the base repository, so its layers can be mounted.
  const mountScopes = sameRegistry && base.repository !== target.repository ? [pullScope(base.repository)] : [];
  const dst = new RepositoryClient(targetTransport, target.repository, [pushScope(target.repository), ...mountScopes]);
  const src = new RepositoryClient(baseTransport, base.repository, [pullScope(base.repository)]);
  try {
    await targetTransport.checkCredentials(dst.scopes);
    const baseImage = await readBaseImage(src, baseRef, options.platforms, formatReference(base));
    const baseDigest = `${formatRepository(base)}@${baseImage.digest}`;
    log(`base ${baseDigest}: ${baseImage.platforms.map((p) => formatPlatform(p.platform)).join(", ")}`);

    const bundleDigest = sha256Digest(options.bundle);
    const layer = await buildCopierLayer(options.bundle);
    log(`copier layer ${layer.digest} (${formatBytes(layer.blob.length)}, bundle ${bundleDigest})`);
    const images = baseImage.platforms.map((p) => {
      const what = `base image ${formatReference(base)} (${formatPlatform(p.platform)})`;
      const bytes = copierImageConfig({ base: p.config, baseLayers: p.parts.layers.length, diffId: layer.diffId, version: options.version, bundleDigest, what });
      const config = { bytes, digest: sha256Digest(bytes) };
      return { base: p, config, manifest: copierManifest(p.mediaType, p.parts, config, layer) };
    });

    const progress = new ProgressTracker();
    const executor = new Executor({
      pool: new Pool(concurrency),
      progress,
      retry,
      source: () => src,
      target: () => dst,
      sameRegistry,
      dryRun: false,
      log: warn,
    });
    await Promise.all(images.map((image) => executor.copyBlobs(src, dst, image.base.blobs)));
    await pushBlobBytes(dst, layer.digest, layer.blob, retry, warn);
    for (const image of images) await pushBlobBytes(dst, image.config.digest, image.config.bytes, retry, warn);
    for (const image of images) {
      await putManifest(dst, image.manifest.digest, image.manifest);
      log(`${formatPlatform(image.base.platform)}: ${formatRepository(target)}@${image.manifest.digest}`);
    }
    const top = baseImage.isIndex ? copierIndex(baseImage.mediaType, images.map((i) => ({ manifest: i.manifest, platform: i.base.platform }))) : images[0].manifest;
    await putManifest(dst, target.tag, top);
    log(`pushed ${formatRepository(target)}:${target.tag} (${formatBytes(progress.bytes)} of base layers copied; the rest mounted or already there)`);
    return {
      reference: `${formatRepository(target)}@${top.digest}`,
      tag: target.tag,
      digest: top.digest,
      mediaType: top.mediaType,
      base: { reference: baseDigest, digest: baseImage.digest },
      platforms: images.map((i) => ({ platform: formatPlatform(i.base.platform), digest: i.manifest.digest })),
      bundleDigest,
      copiedBytes: progress.bytes,
    };
  } finally {
    await Promise.all([...new Set([targetTransport, baseTransport])].map((t) => t.close()));
  }
}

/** PUTs a manifest and checks that the registry stored it under the digest computed here. */
async function putManifest(client: RepositoryClient, reference: string, manifest: BuiltManifest): Promise<void> {
  const reported = (await client.putManifest(reference, manifest.bytes, manifest.mediaType)) ?? (await client.headManifest(reference));
  if (reported !== manifest.digest) {
    throw new RegistryError(`${client.name}${reference.includes(":") ? "@" : ":"}${reference}: the registry holds ${reported ?? "nothing"} after the push, expected ${manifest.digest}`, 0);
  }
}
