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
  return Readable.from(pieces(client, digest, size, first.body, opts), { objectMode: false });
}

async function* pieces(client: RepositoryClient, digest: string, size: number, first: Readable, opts: DownloadOptions): AsyncGenerator<Buffer> {
  const what = `GET blob ${client.name}@${digest}`;
  let body = first;
  let received = 0;
  /** Bytes at the start of the current body that were passed on already (a 200 after a resume). */
  let skip = 0;
  let resumes = 0;
  /** Breaks in a row after short pieces, and since when no piece was worth its reconnect. */
  let shortPieces = 0;
  let pieceFrom = 0;
  let pieceAt = Date.now();
  let idleSince = Date.now();
  try {
    for (;;) {
      try {
        for await (const chunk of body) {
          let piece = chunk as Buffer;
          if (skip > 0) {
            const dropped = Math.min(skip, piece.length);
            skip -= dropped;
            piece = piece.subarray(dropped);
            if (piece.length === 0) continue;
          }
          received += piece.length;
          yield piece;
        }
        // A body may end early without an error (no Content-Length): that is a break like any other.
        if (received >= size) return;
        throw Object.assign(new ConnectionError(`the body ended after ${received} of ${size} bytes`), { code: "UND_ERR_SOCKET" });
      } catch (err) {
        if (!isConnectionError(err) || received >= size || opts.signal?.aborted) throw err;
        const now = Date.now();
        if (received - pieceFrom >= GOOD_PIECE_BYTES || now - pieceAt >= GOOD_PIECE_MS) shortPieces = 0;
        else shortPieces++;
        // Time without progress is what is bounded: a piece that moved bytes restarts that clock.
        if (received > pieceFrom) idleSince = now;
        resumes++;
        const delay = backoffDelay(opts.retry, Math.max(1, shortPieces));
        if (resumes > MAX_RESUMES || !mayRetry(opts.retry, shortPieces, now - idleSince, delay)) throw err;
        opts.onResume?.(`${what}: ${(err as Error).message}; retrying from byte ${received} of ${size} in ${Math.round(delay)} ms`);
        body.destroy();
        await sleep(delay, opts.signal);
        const next = await client.getBlob(digest, { signal: opts.signal, from: received });
        body = next.body;
        skip = received - next.start;
        pieceFrom = received;
        pieceAt = Date.now();
      }
    }
  } finally {
    body.destroy();
  }
}
