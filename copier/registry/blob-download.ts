// A blob download that outlives a broken connection, as containers/image does it: when the body breaks off, the
// download asks again for the rest (`Range: bytes=<first byte not yet received>-`). A 206 continues where the
// last piece ended; a 200 (a registry that ignores Range) starts the download over and drops the bytes already
// passed on. The pieces form one stream, so the digest check downstream hashes them as one blob and a piece whose
// bytes differ is caught like any corruption. Resumes are bounded in number and in time without progress.

import { Readable } from "node:stream";
import { backoffDelay, isConnectionError, mayRetry, sleep, type RetryPolicy } from "../transport/retry";
import { ConnectionError } from "../transport/transport";
import type { RepositoryClient } from "./client";

/** A blob that breaks this often, even with progress in between, fails. */
export const MAX_RESUMES = 100;
/**
 * A piece that brought at least this much, or lasted this long, was worth its reconnect (containers/image's
 * rule); breaks after less count towards the retry policy's attempts.
 */
export const GOOD_PIECE_BYTES = 1024 * 1024;
export const GOOD_PIECE_MS = 60_000;

export interface DownloadOptions {
  retry: RetryPolicy;
  signal?: AbortSignal;
  /** Told about every resume (why, from which byte, after what wait). */
  onResume?: (message: string) => void;
}

/** Opens `digest` (`size` bytes) in `client`'s repository; the first request's failure is thrown from here. */
export async function downloadBlob(client: RepositoryClient, digest: string, size: number, opts: DownloadOptions): Promise<Readable> {
  const first = await client.getBlob(digest, { signal: opts.signal });
  return new ResumableBlob(client, digest, size, first.body, opts);
}

/** The bytes of one blob across as many responses as it takes; each response's chunks pass on as they come. */
class ResumableBlob extends Readable {
  private readonly what: string;
  private body: Readable;
  private received = 0;
  /** Bytes at the start of the current body that were passed on already (a 200 after a resume). */
  private skip = 0;
  private resumes = 0;
  /** Breaks in a row after short pieces, and since when no piece moved a byte. */
  private shortPieces = 0;
  private pieceFrom = 0;
  private pieceAt = Date.now();
  private idleSince = Date.now();

  constructor(
    private readonly client: RepositoryClient,
    private readonly digest: string,
    private readonly size: number,
    first: Readable,
    private readonly opts: DownloadOptions,
  ) {
    super();
    this.what = `GET blob ${client.name}@${digest}`;
    this.body = first;
    this.attach(first);
  }

  override _read(): void {
    this.body.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.body.destroy();
    callback(error);
  }

  private attach(body: Readable): void {
    body.on("data", (chunk: Buffer) => {
      let piece = chunk;
      if (this.skip > 0) {
        const dropped = Math.min(this.skip, piece.length);
        this.skip -= dropped;
        piece = piece.subarray(dropped);
        if (piece.length === 0) return;
      }
      this.received += piece.length;
      if (!this.push(piece)) body.pause();
    });
    body.once("end", () => {
      if (this.received >= this.size) this.push(null);
      // A body may end early without an error (no Content-Length): that is a break like any other.
      else this.broken(body, Object.assign(new ConnectionError(`the body ended after ${this.received} of ${this.size} bytes`), { code: "UND_ERR_SOCKET" }));
    });
    body.once("error", (err: Error) => this.broken(body, err));
  }

  private broken(body: Readable, err: Error): void {
    if (body !== this.body || this.destroyed) return;
    body.removeAllListeners("data");
    body.on("error", () => undefined); // it is done with; a late error of its own changes nothing
    body.destroy();
    this.reconnect(err).catch((final: Error) => this.destroy(final));
  }

  private async reconnect(err: Error): Promise<void> {
    if (!isConnectionError(err) || this.received >= this.size || this.opts.signal?.aborted) throw err;
    const now = Date.now();
    if (this.received - this.pieceFrom >= GOOD_PIECE_BYTES || now - this.pieceAt >= GOOD_PIECE_MS) this.shortPieces = 0;
    else this.shortPieces++;
    // Time without progress is what is bounded: a piece that moved bytes restarts that clock.
    if (this.received > this.pieceFrom) this.idleSince = now;
    this.resumes++;
    const delay = backoffDelay(this.opts.retry, Math.max(1, this.shortPieces));
    if (this.resumes > MAX_RESUMES || !mayRetry(this.opts.retry, this.shortPieces, now - this.idleSince, delay)) throw err;
    this.opts.onResume?.(`${this.what}: ${err.message}; retrying from byte ${this.received} of ${this.size} in ${Math.round(delay)} ms`);
    await sleep(delay, this.opts.signal);
    const next = await this.client.getBlob(this.digest, { signal: this.opts.signal, from: this.received });
    if (this.destroyed) {
      next.body.destroy();
      return;
    }
    this.skip = this.received - next.start;
    this.pieceFrom = this.received;
    this.pieceAt = Date.now();
    this.body = next.body;
    this.attach(next.body);
  }
}
