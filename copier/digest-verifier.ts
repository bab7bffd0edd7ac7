// A pass-through stream that hashes what flows through it and holds back the final chunk until the total size
// and digest are proven right. On a mismatch it fails instead of releasing that chunk, so the upload it feeds
// never delivers a complete body and the registry cannot commit wrong bytes under the expected digest.

import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

export class DigestMismatchError extends Error {
  override name = "DigestMismatchError";
}

export class DigestVerifier extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: string;
  private readonly expectedHex: string;
  private held: Buffer | undefined;
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
    this.hash.update(chunk);
    this.onBytes?.(chunk.length);
    const previous = this.held;
    this.held = chunk;
    if (previous) callback(null, previous);
    else callback();
  }

  override _flush(callback: TransformCallback): void {
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
    this.held = undefined;
    callback();
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
