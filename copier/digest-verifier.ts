// A pass-through stream that hashes what flows through it and holds back the final batch until the total size
// and digest are proven right. On a mismatch it fails instead of releasing that batch, so the upload it feeds
// never delivers a complete body and the registry cannot commit wrong bytes under the expected digest.
// Small chunks (16 KiB from a TLS source) are gathered into batches of BATCH_BYTES first: one hash update, one
// socket write and one allocation per batch instead of per chunk costs less CPU than the copy it takes. A chunk of
// DIRECT_BYTES or more (a plain-http source gives 64 KiB) passes as it is: there the copy would cost more.

import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

export class DigestMismatchError extends Error {
  override name = "DigestMismatchError";
}

/** Gathered before hashing and passing on; bounds the bytes a verifier holds to about twice this. */
export const BATCH_BYTES = 256 * 1024;
export const DIRECT_BYTES = 64 * 1024;

export class DigestVerifier extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: string;
  private readonly expectedHex: string;
  private held: Buffer | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private seen = 0;

  constructor(
    private readonly expectedDigest: string,
    private readonly expectedSize: number,
    private readonly onBytes?: (n: number) => void,
  ) {
    super();
    const [algorithm, hex] = expectedDigest.split(":");
    if (algorithm !== "sha256" && algorithm !== "sha512") {
      throw new DigestMismatchError(`unsupported digest algorithm in ${expectedDigest}`);
    }
    this.algorithm = algorithm;
    this.expectedHex = hex.toLowerCase();
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expectedSize) {
      callback(new DigestMismatchError(`blob ${this.expectedDigest} is larger than its declared ${this.expectedSize} bytes`));
      return;
    }
    this.onBytes?.(chunk.length);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < BATCH_BYTES && !(this.pending.length === 1 && chunk.length >= DIRECT_BYTES)) {
      callback();
      return;
    }
    const previous = this.held;
    this.held = this.takeBatch();
    if (previous) callback(null, previous);
    else callback();
  }

  override _flush(callback: TransformCallback): void {
    const rest = this.pendingBytes > 0 ? this.takeBatch() : undefined;
    if (this.seen !== this.expectedSize) {
      callback(new DigestMismatchError(`blob ${this.expectedDigest} has ${this.seen} bytes, expected ${this.expectedSize}`));
      return;
    }
    const actual = this.hash.digest("hex");
    if (actual !== this.expectedHex) {
      callback(new DigestMismatchError(`blob content does not match its digest ${this.expectedDigest} (got ${this.algorithm}:${actual})`));
      return;
    }
    if (this.held) this.push(this.held);
    if (rest) this.push(rest);
    this.held = undefined;
    callback();
  }

  /** The pending chunks as one buffer, hashed. */
  private takeBatch(): Buffer {
    const batch = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.hash.update(batch);
    return batch;
  }
}

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The digest of `bytes` computed with the algorithm of `digest`. */
export function digestWithAlgorithmOf(digest: string, bytes: Buffer): string {
  const algorithm = digest.split(":")[0] === "sha512" ? "sha512" : "sha256";
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}
