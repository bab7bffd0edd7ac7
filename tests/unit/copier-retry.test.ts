import { backoffDelay, DEFAULT_RETRY, isConnectionError, isRetryableStatus, mayRetry, parseRetryAfter, retryAnswer, type RetryPolicy } from "../../copier/transport/retry";

describe("retry policy", () => {
  it("retries 5xx, 429 and 408 but not other 4xx or 501", () => {
    expect([500, 502, 503, 504, 429, 408].map(isRetryableStatus)).toEqual([true, true, true, true, true, true]);
    expect([400, 401, 403, 404, 413, 501].map(isRetryableStatus)).toEqual([false, false, false, false, false, false]);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("7")).toBe(7000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it("honours Retry-After over the backoff, capped by the policy", () => {
    expect(backoffDelay(DEFAULT_RETRY, 1, 3000)).toBe(3000);
    expect(backoffDelay(DEFAULT_RETRY, 1, 10 * 60_000)).toBe(DEFAULT_RETRY.maxRetryAfterMs);
  });

  it("grows exponentially with jitter and stays within the ceiling", () => {
    const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(policy, 1, undefined, () => 0)).toBe(50);
    expect(backoffDelay(policy, 1, undefined, () => 1)).toBe(100);
    expect(backoffDelay(policy, 3, undefined, () => 1)).toBe(400);
    expect(backoffDelay(policy, 10, undefined, () => 1)).toBe(1000);
    expect(backoffDelay(policy, 10, undefined, () => 0)).toBe(500);
  });

  it("is bounded in attempts and in elapsed time", () => {
    const policy = { ...DEFAULT_RETRY, maxAttempts: 3, maxElapsedMs: 10_000 };
    expect(mayRetry(policy, 1, 0, 100)).toBe(true);
    expect(mayRetry(policy, 3, 0, 100)).toBe(false);
    expect(mayRetry(policy, 1, 9_950, 100)).toBe(false);
  });

  it("tells connection failures from other errors, also when wrapped", () => {
    expect(isConnectionError(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBe(true);
    expect(isConnectionError(new Error("outer", { cause: Object.assign(new Error("t"), { code: "UND_ERR_HEADERS_TIMEOUT" }) }))).toBe(true);
    expect(isConnectionError(new Error("digest mismatch"))).toBe(false);
    expect(isConnectionError(Object.assign(new Error("bad cert"), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }))).toBe(false);
  });
});

describe("retryAnswer", () => {
  const fast: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, maxElapsedMs: 5_000, maxRetryAfterMs: 5 };
  const status = (a: { status: number }) => a;
  const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });

  it("retries connection errors and retryable statuses, and gives the first other answer", async () => {
    const answers: Array<() => { status: number }> = [() => { throw refused(); }, () => ({ status: 503 }), () => ({ status: 401 })];
    let calls = 0;
    const answer = await retryAnswer(fast, async () => answers[calls++](), status);
    expect({ answer, calls }).toEqual({ answer: { status: 401 }, calls: 3 });
  });

  it("gives the last retryable answer, or throws the last connection error, once the attempts are spent", async () => {
    let calls = 0;
    await expect(retryAnswer(fast, async () => ({ status: 429, n: ++calls }), status)).resolves.toEqual({ status: 429, n: 3 });
    calls = 0;
    await expect(retryAnswer(fast, async () => { calls++; throw refused(); }, status)).rejects.toThrow("ECONNREFUSED");
    expect(calls).toBe(3);
  });

  it("throws any other error at once", async () => {
    let calls = 0;
    await expect(retryAnswer(fast, async () => { calls++; throw new Error("digest mismatch"); }, status)).rejects.toThrow("digest mismatch");
    expect(calls).toBe(1);
  });
});
