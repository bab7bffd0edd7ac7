// Pushes a blob held in memory (the copier layer, an image config) unless the repository already has it: one
// monolithic PUT, or, after the registry refused that (405/413/415, as the executor switches), one chunk of the
// spec's chunked upload. Transient failures are retried under the run's policy, each time with a fresh session.

import { Readable } from "node:stream";
import type { RepositoryClient } from "../registry/client";
import { RegistryError } from "../registry/errors";
import { backoffDelay, isConnectionError, isRetryableStatus, mayRetry, sleep, type RetryPolicy } from "../transport/retry";

/** True when this call uploaded the blob, false when the repository already held it. */
export async function pushBlobBytes(
  client: RepositoryClient,
  digest: string,
  bytes: Buffer,
  retry: RetryPolicy,
  log: (message: string) => void,
): Promise<boolean> {
  const started = Date.now();
  let chunked = false;
  for (let attempt = 1; ; ) {
    let location: URL | undefined;
    try {
      if ((await client.headBlob(digest)) !== undefined) return false;
      const session = await client.startUpload();
      if (session === "mounted") return false;
      location = session.location;
      const body = Readable.from([bytes], { objectMode: false });
      if (chunked) await client.chunkedUpload(session, digest, bytes.length, body, bytes.length);
      else await client.putBlob(session.location, digest, bytes.length, body);
      return true;
    } catch (err) {
      if (location) void client.cancelUpload(location);
      const status = err instanceof RegistryError ? err.status : undefined;
      if (!chunked && status !== undefined && [405, 413, 415].includes(status)) {
        chunked = true;
        log(`${client.name}: the registry refused a whole-blob upload (${(err as Error).message}); uploading ${digest} as a chunk`);
        continue;
      }
      const retryable = isConnectionError(err) || (status !== undefined && isRetryableStatus(status));
      const delay = backoffDelay(retry, attempt, err instanceof RegistryError ? err.retryAfterMs : undefined);
      if (!retryable || !mayRetry(retry, attempt, Date.now() - started, delay)) throw err;
      log(`blob ${digest}: ${(err as Error).message}; retry ${attempt} of ${retry.maxAttempts - 1} in ${Math.round(delay)} ms`);
      await sleep(delay);
      attempt++;
    }
  }
}
