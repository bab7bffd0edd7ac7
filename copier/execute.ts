// Copies images: skip what the target already holds (same manifest digest), otherwise move blobs (each distinct
// blob at most once per run, HEAD first, mount within one registry, streamed, resumed with Range when the source
// breaks off, and digest-checked), then child manifests by digest, then the manifest under its tag, and verify the
// digest the registry reports. An image's manifest is committed as soon as its blobs are in (commits go first in
// the pool, and earlier images' blobs before later ones'), so a run killed at any moment leaves whole images.

import { pipeline, type Readable } from "node:stream";
import { DigestMismatchError, DigestVerifier } from "./digest-verifier";
import { parseManifest, type Descriptor, ManifestError } from "./manifest";
import { manifestRef, type ImageJob } from "./plan";
import type { Group } from "./plan-groups";
import { Pool } from "./pool";
import { formatBytes, type ProgressTracker } from "./progress";
import { formatReference } from "./reference";
import type { RepositoryClient, UploadSession } from "./registry/client";
import { RegistryError } from "./registry/errors";
import { downloadBlob } from "./registry/blob-download";
import { isConnectionError, isRetryableStatus, backoffDelay, mayRetry, sleep, type RetryPolicy } from "./transport/retry";
import { connectionError } from "./transport/transport";

/** `absent`: an optional (update) image the source does not have; not a failure. */
export type ImageStatus = "copied" | "skipped" | "failed" | "missing" | "absent";

export interface ImageResult {
  source: string;
  target: string;
  digest?: string;
  status: ImageStatus;
  reason?: string;
  /** Bytes of blobs this run moved for this image (a blob shared with an earlier image counts once, there). */
  bytes: number;
  /** The plan group it belongs to (plan-groups.ts); set by the run, not by the executor. */
  group?: Group;
  /** For the modules group: the module's name. */
  module?: string;
}

export interface ExecutorDeps {
  pool: Pool;
  progress: ProgressTracker;
  retry: RetryPolicy;
  /** A client for a source repository (by path). */
  source(repository: string): RepositoryClient;
  target(repository: string): RepositoryClient;
  /** Source and target are one registry, so blobs can be mounted across repositories. */
  sameRegistry: boolean;
  dryRun: boolean;
  log(message: string): void;
  /** Upload in chunks of this many bytes from the start (else monolithic, chunked only after a refusal). */
  chunkBytes?: number;
}

/** Chunk size after a monolithic PUT is refused; below Cloudflare's 100 MB request limit. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
/** A 413 on a chunk halves the chunk size of the run, down to this. */
export const MIN_CHUNK_BYTES = 1024 * 1024;

/**
 * Pool priorities (lower first): manifest commits, then the reads that find an image's work, then blob transfers,
 * each of the last two in image order. So an image is committed as soon as its blobs are in, and images finish
 * one after another instead of all near the end.
 */
const COMMIT = 0;
const LOOKUP = 1_000_000;
const TRANSFER = 2_000_000;

export class Executor {
  private readonly blobs = new Map<string, Promise<number>>();
  private readonly children = new Map<string, Promise<number>>();
  /** Tags of each target repository as listed at the start of the run (undefined: not listable). */
  private readonly targetTags = new Map<string, Promise<Set<string> | undefined>>();
  /** Undefined: monolithic uploads; else the chunk size of the run's chunked uploads. */
  private chunkBytes: number | undefined;
  /**
   * Whether the target answers a mount of a blob from its own repository with 201 when it holds the blob, as
   * distribution does: then one POST both checks for a blob and starts its upload, instead of a HEAD and a POST.
   * Probed once, with a blob this run has just uploaded; until then, and if not, every blob gets its HEAD.
   */
  private selfMount: "untested" | "probing" | "works" | "ignored" = "untested";

  constructor(private readonly deps: ExecutorDeps) {
    this.chunkBytes = deps.chunkBytes;
  }

  /** Copies one image; `order` (its place in the run) decides which image's work goes first. */
  async copyImage(job: ImageJob, order = 0): Promise<ImageResult> {
    const result: ImageResult = { source: formatReference(job.source), target: formatReference(job.target), status: "failed", bytes: 0 };
    const src = this.deps.source(job.source.repository);
    const dst = this.deps.target(job.target.repository);
    const srcRef = manifestRef(job.source);
    const dstRef = manifestRef(job.target);
    const { pool } = this.deps;
    try {
      // Skip check: the target holds the very manifest the source has. A tag's manifest is fetched right away
      // (one GET instead of HEAD + GET), in parallel with the target's HEAD.
      const [byTag, held] = await Promise.all([
        job.source.digest ? undefined : pool.run(() => src.getManifest(srcRef), LOOKUP + order).catch((err) => {
          throw job.optional && isAbsentInSource(err) ? new AbsentInSourceError(err) : err;
        }),
        this.targetHolds(dst, job.target.tag, dstRef, order),
      ]);
      const sourceDigest = job.source.digest ?? byTag!.digest;
      result.digest = sourceDigest;
      if (held === sourceDigest) {
        result.status = "skipped";
        return result;
      }
      if (this.deps.dryRun) {
        result.bytes = await this.missingBytes(src, dst, srcRef, order);
        result.status = "missing";
        return result;
      }
      const data = byTag ?? (await pool.run(() => src.getManifest(sourceDigest), LOOKUP + order));
      const manifest = parseManifest(data.bytes, data.contentType, result.source);
      if (manifest.kind === "index") {
        const moved = await Promise.all(manifest.children.map((child) => this.copyChild(src, dst, child, result.source, order)));
        result.bytes += moved.reduce((a, b) => a + b, 0);
      } else {
        result.bytes += await this.copyBlobs(src, dst, manifest.blobs, order);
      }
      const reported = await pool.run(() => dst.putManifest(dstRef, data.bytes, manifest.mediaType), COMMIT);
      if (reported && reported !== data.digest) {
        throw new RegistryError(`${result.target}: the registry stored digest ${reported}, expected ${data.digest}`, 201);
      }
      if (!reported) {
        // The registry did not say what it stored: ask what the tag or digest resolves to now.
        const now = await pool.run(() => dst.headManifest(dstRef), COMMIT);
        if (now !== data.digest) throw new RegistryError(`${result.target}: resolves to ${now ?? "nothing"} after the push, expected ${data.digest}`, 0);
      }
      result.digest = data.digest;
      result.status = "copied";
      return result;
    } catch (err) {
      result.status = err instanceof AbsentInSourceError ? "absent" : "failed";
      result.reason = reasonOf(err instanceof AbsentInSourceError ? err.cause : err, result.source);
      return result;
    } finally {
      this.deps.progress.imageFinished(result.status);
    }
  }

  /**
   * The digest the target holds under `ref`. A tag missing from the repository's tag list (read once per run)
   * needs no HEAD: on a fresh target that saves one request per image. The list only ever saves a HEAD; a tag
   * it shows (or a registry that will not list) is checked with a HEAD as before.
   */
  private async targetHolds(dst: RepositoryClient, tag: string | undefined, ref: string, order: number): Promise<string | undefined> {
    if (tag && ref === tag) {
      const tags = await this.listing(dst);
      if (tags && !tags.has(tag)) return undefined;
    }
    return this.deps.pool.run(() => dst.headManifest(ref, true), LOOKUP + order);
  }

  /** The target repository's tags as listed once per run, at its first use. */
  private listing(dst: RepositoryClient): Promise<Set<string> | undefined> {
    let listed = this.targetTags.get(dst.repository);
    if (!listed) {
      listed = this.deps.pool.run(() => dst.listTags(), LOOKUP).catch(() => undefined);
      this.targetTags.set(dst.repository, listed);
    }
    return listed;
  }

  /** A child manifest of an index, pushed by digest once per run; returns the bytes moved for it. */
  private copyChild(src: RepositoryClient, dst: RepositoryClient, child: Descriptor, parent: string, order: number): Promise<number> {
    const key = `${dst.repository}@${child.digest}`;
    const shared = this.children.get(key);
    // Bytes count for the first image that needed them; others wait for the same work and add nothing.
    if (shared) return shared.then(() => 0);
    const promise = (async () => {
        const { pool } = this.deps;
        const held = await pool.run(() => dst.headManifest(child.digest, true), LOOKUP + order);
        if (held === child.digest) return 0;
        const what = `${parent} (platform manifest ${child.digest})`;
        const data = await pool.run(() => src.getManifest(child.digest), LOOKUP + order);
        const manifest = parseManifest(data.bytes, data.contentType ?? child.mediaType, what);
        let bytes = 0;
        if (manifest.kind === "index") {
          bytes = (await Promise.all(manifest.children.map((c) => this.copyChild(src, dst, c, parent, order)))).reduce((a, b) => a + b, 0);
        } else {
          bytes = await this.copyBlobs(src, dst, manifest.blobs, order);
        }
        const reported = await pool.run(() => dst.putManifest(child.digest, data.bytes, manifest.mediaType), COMMIT);
        if (reported && reported !== child.digest) throw new RegistryError(`${what}: the registry stored digest ${reported}`, 201);
        return bytes;
      })();
    this.children.set(key, promise);
    return promise;
  }

  /** Moves the blobs the target lacks (each at most once per run) and returns the bytes moved; publish-image uses it too. */
  async copyBlobs(src: RepositoryClient, dst: RepositoryClient, blobs: Descriptor[], order = 0): Promise<number> {
    const settled = await Promise.allSettled(blobs.map((b) => this.copyBlob(src, dst, b, order)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    return settled.reduce((sum, s) => sum + (s.status === "fulfilled" ? s.value : 0), 0);
  }

  /** Moves one blob unless the target has it; shared by every image of the run that needs it. */
  private copyBlob(src: RepositoryClient, dst: RepositoryClient, blob: Descriptor, order: number): Promise<number> {
    const key = `${dst.repository}@${blob.digest}`;
    const shared = this.blobs.get(key);
    if (shared) return shared.then(() => 0);
    const promise = this.deps.pool.run(() => this.transferBlob(src, dst, blob), TRANSFER + order);
    this.blobs.set(key, promise);
    return promise;
  }

  private async transferBlob(src: RepositoryClient, dst: RepositoryClient, blob: Descriptor): Promise<number> {
    const { retry, progress } = this.deps;
    // The time bound measures time without progress: an attempt that moved bytes restarts the clock, so a long
    // transfer reset late is still retried (the attempt count stays bounded).
    let started = Date.now();
    let renewedAuth = false;
    // A switch to another upload way is not an attempt: it happens a bounded number of times (see switchUploads).
    for (let attempt = 1; ; ) {
      let counted = 0;
      const chunkBytes = this.chunkBytes;
      let location: URL | undefined;
      const controller = new AbortController();
      let body: Readable | undefined;
      // An error the source's stream raised itself, before the upload was torn down: then the upload fails only
      // because its body did, and the source, not the target's PUT, is what the operator must be told about.
      let sourceFailure: Error | undefined;
      try {
        // Asked on every attempt: the repository may hold the blob from an earlier run (killed before any tag, so
        // its tag list says NAME_UNKNOWN) or from this transfer's failed attempt.
        const mount = this.deps.sameRegistry && src.repository !== dst.repository ? { digest: blob.digest, from: src.repository } : undefined;
        let session: UploadSession | "held" | "mounted" | undefined = !mount && this.selfMount === "works" ? await dst.startUploadUnlessHeld(blob.digest) : undefined;
        if (!session) session = (await dst.headBlob(blob.digest)) !== undefined ? "held" : await dst.startUpload(mount);
        if (session === "held" || session === "mounted") return 0;
        location = session.location;
        body = await downloadBlob(src, blob.digest, blob.size, {
          retry,
          signal: controller.signal,
          onResume: (message) => this.deps.log(`blob ${blob.digest}: ${message}`),
        });
        const verifier = new DigestVerifier(blob.digest, blob.size, (n) => {
          counted += n;
          progress.addBytes(n);
        });
        body.once("error", (e: Error) => {
          if (!verifier.destroyed) sourceFailure = e;
        });
        // Errors on either side end both streams: the upload sees its body fail and is aborted.
        pipeline(body, verifier, () => undefined);
        if (chunkBytes) await dst.chunkedUpload(session, blob.digest, blob.size, verifier, chunkBytes, controller.signal);
        else await dst.putBlob(location, blob.digest, blob.size, verifier, controller.signal);
        if (!mount) await this.probeSelfMount(dst, blob.digest);
        return counted;
      } catch (thrown) {
        const err = sourceFailure && !findMismatch(thrown) ? connectionError(sourceFailure, `GET blob ${src.name}@${blob.digest}`) : thrown;
        progress.addBytes(-counted);
        if (counted > 0) {
          started = Date.now();
          renewedAuth = false; // a token may expire again during the next long attempt
        }
        body?.destroy();
        controller.abort();
        if (location) void dst.cancelUpload(location);
        const mismatch = findMismatch(err);
        if (mismatch) throw mismatch;
        // The download resumed by itself for as long as that made sense: a source that still broke off is final.
        if (sourceFailure) throw err;
        const sent = chunkBytes === undefined ? undefined : Math.min(chunkBytes, blob.size);
        if (err instanceof RegistryError && this.switchUploads(sent, err)) continue;
        const status = err instanceof RegistryError ? err.status : undefined;
        // A 401 mid-transfer usually means the token expired during a long upload: one more try with a fresh one.
        const retryAuth = status === 401 && !renewedAuth;
        if (retryAuth) renewedAuth = true;
        const retryable = isConnectionError(err) || retryAuth || (status !== undefined && isRetryableStatus(status));
        const delay = backoffDelay(retry, attempt, err instanceof RegistryError ? err.retryAfterMs : undefined);
        if (!retryable || !mayRetry(retry, attempt, Date.now() - started, delay)) throw err;
        this.deps.log(`blob ${blob.digest}: ${(err as Error).message}; retry ${attempt} of ${retry.maxAttempts - 1} in ${Math.round(delay)} ms`);
        await sleep(delay);
        attempt++;
      }
    }
  }

  /** Learns whether the target answers 201 to a mount from its own repository of `digest`, a blob it now holds. */
  private async probeSelfMount(dst: RepositoryClient, digest: string): Promise<void> {
    if (this.selfMount !== "untested") return;
    this.selfMount = "probing";
    try {
      const answer = await dst.startUploadUnlessHeld(digest);
      this.selfMount = answer === "held" ? "works" : "ignored";
      if (answer && answer !== "held") await dst.cancelUpload(answer.location);
    } catch {
      this.selfMount = "ignored";
    }
  }

  /**
   * Whether a refused upload should be tried again another way: a monolithic PUT refused as too large or not
   * allowed switches the run to chunked uploads; a chunk of `sent` bytes refused as too large sets the run's chunk
   * size to half of it. Blobs already under way with the old way meet the same refusal and follow.
   */
  private switchUploads(sent: number | undefined, err: RegistryError): boolean {
    if (sent === undefined && [405, 413, 415].includes(err.status)) {
      if (this.chunkBytes === undefined) {
        this.chunkBytes = DEFAULT_CHUNK_BYTES;
        this.deps.log(`switching to chunked uploads of ${formatBytes(DEFAULT_CHUNK_BYTES)} after: ${err.message}`);
      }
      return true;
    }
    if (sent !== undefined && err.status === 413 && sent > MIN_CHUNK_BYTES) {
      const smaller = Math.max(MIN_CHUNK_BYTES, Math.floor(sent / 2));
      if (this.chunkBytes === undefined || this.chunkBytes > smaller) {
        this.chunkBytes = smaller;
        this.deps.log(`an upload chunk of ${formatBytes(sent)} was refused as too large; chunks of ${formatBytes(smaller)} from now on`);
      }
      return true;
    }
    return false;
  }

  /** Dry run: the bytes of blobs the target lacks for this image (reads only). */
  private async missingBytes(src: RepositoryClient, dst: RepositoryClient, ref: string, order: number): Promise<number> {
    const { pool } = this.deps;
    const data = await pool.run(() => src.getManifest(ref), LOOKUP + order);
    const manifest = parseManifest(data.bytes, data.contentType, `${src.name}:${ref}`);
    const blobs: Descriptor[] = [];
    if (manifest.kind === "image") blobs.push(...manifest.blobs);
    else {
      for (const child of manifest.children) {
        const childData = await pool.run(() => src.getManifest(child.digest), LOOKUP + order);
        const parsed = parseManifest(childData.bytes, childData.contentType ?? child.mediaType, `${src.name}@${child.digest}`);
        if (parsed.kind === "image") blobs.push(...parsed.blobs);
      }
    }
    let missing = 0;
    await Promise.all(
      blobs.map(async (b) => {
        const key = `${dst.repository}@${b.digest}`;
        if (this.blobs.has(key)) return;
        this.blobs.set(key, Promise.resolve(0));
        if ((await pool.run(() => dst.headBlob(b.digest), LOOKUP + order)) === undefined) missing += b.size;
      }),
    );
    return missing;
  }
}

function findMismatch(err: unknown): DigestMismatchError | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    if (e instanceof DigestMismatchError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** An optional image's tag is not in the SOURCE (only the source manifest fetch raises it, never a target error). */
class AbsentInSourceError extends Error {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** The registry says the tag or the whole repository does not exist (404 MANIFEST_UNKNOWN / NAME_UNKNOWN). */
function isAbsentInSource(err: unknown): boolean {
  if (!(err instanceof RegistryError) || err.status !== 404) return false;
  return err.codes.length === 0 || err.codes.some((code) => code === "MANIFEST_UNKNOWN" || code === "NAME_UNKNOWN");
}

function reasonOf(err: unknown, image: string): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ManifestError) return message;
  return message.includes(image) ? message : `${image}: ${message}`;
}
