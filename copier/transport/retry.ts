// Retry policy: which failures are worth another try, how long to wait (exponential backoff with full jitter,
// Retry-After honoured), and a bound on both attempts and elapsed time.

export interface RetryPolicy {
  maxAttempts: number; // total attempts including the first
  baseDelayMs: number;
  maxDelayMs: number;
  maxElapsedMs: number; // no new attempt starts after this much time since the first one
  maxRetryAfterMs: number; // a Retry-After longer than this is capped
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxElapsedMs: 5 * 60_000,
  maxRetryAfterMs: 60_000,
};

/** An HTTP status that a retry may fix. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

const CONNECTION_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** A network-level failure (reset, refused, timeout, premature close) rather than an answer from the server. */
export function isConnectionError(err: unknown): boolean {
  let e: any = err;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === "string" && CONNECTION_CODES.has(e.code)) return true;
    if (e.name === "SocketError" || e.name === "HeadersTimeoutError" || e.name === "BodyTimeoutError") return true;
    e = e.cause;
  }
  return false;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Delay before attempt number `attempt` (1 = the first retry). */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // "Equal jitter": at least half the ceiling so retries do not collapse to zero.
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Whether another attempt may start: `attempt` attempts done, `elapsedMs` since the first, next wait `delayMs`. */
export function mayRetry(policy: RetryPolicy, attempt: number, elapsedMs: number, delayMs: number): boolean {
  return attempt < policy.maxAttempts && elapsedMs + delayMs <= policy.maxElapsedMs;
}

/**
 * Calls `once` until it answers with a status no retry may fix, retrying connection errors and retryable statuses
 * (Retry-After honoured) as long as the policy allows. Gives the last answer, or throws the last connection error
 * (any other error at once). For requests that carry no body and need no authorization, such as a ping.
 */
export async function retryAnswer<T>(
  policy: RetryPolicy,
  once: () => Promise<T>,
  statusOf: (answer: T) => { status: number; retryAfterMs?: number },
): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    let answer: T;
    try {
      answer = await once();
    } catch (err) {
      const delay = backoffDelay(policy, attempt);
      if (!isConnectionError(err) || !mayRetry(policy, attempt, Date.now() - started, delay)) throw err;
      await sleep(delay);
      continue;
    }
    const { status, retryAfterMs } = statusOf(answer);
    const delay = backoffDelay(policy, attempt, retryAfterMs);
    if (!isRetryableStatus(status) || !mayRetry(policy, attempt, Date.now() - started, delay)) return answer;
    await sleep(delay);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
