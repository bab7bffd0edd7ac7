// Sends requests to one registry: base URL (http for `insecure`, else https), authorization with one renewal
// after a 401, retries of replayable requests on connection errors, 5xx and 429, Authorization only ever sent to
// the registry's own origin (scheme, host and port: not after a redirect elsewhere or to plain http), and
// deduplicated `Warning` headers.

import type { Readable } from "node:stream";
import { request, type Dispatcher } from "./undici";
import { createAgent, DEFAULT_TIMEOUTS } from "./agent";
import type { ProxySettings } from "./proxy";
import { AuthError, Authenticator, type Credentials } from "./auth";
import { backoffDelay, DEFAULT_RETRY, isConnectionError, isRetryableStatus, mayRetry, parseRetryAfter, retryAnswer, sleep, type RetryPolicy } from "./retry";

export interface TransportOptions extends Credentials {
  insecure?: boolean;
  ca?: string;
  connections?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  connectTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  onWarning?: (message: string) => void;
  /** Told about every retry (what failed, which attempt, the wait), so an operator sees transient failures. */
  onRetry?: (message: string) => void;
  userAgent?: string;
  /** The environment's proxy (proxySettingsFromEnv); requests go direct without it. */
  proxy?: ProxySettings;
}

export interface SendOptions {
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** A path like `/v2/…` or an absolute URL (upload locations). */
  url: string | URL;
  scopes: string[];
  headers?: Record<string, string>;
  /** A Buffer or string is replayable and so retried; a stream is sent once (callers retry the whole transfer). */
  body?: Buffer | string | Readable | null;
  followRedirects?: boolean;
  signal?: AbortSignal;
}

export type Response = Dispatcher.ResponseData;

export class ConnectionError extends Error {
  override name = "ConnectionError";
}

const MAX_REDIRECTS = 5;

export class RegistryTransport {
  readonly baseUrl: URL;
  readonly auth: Authenticator;
  readonly dispatcher: Dispatcher;
  readonly retry: RetryPolicy;
  private readonly userAgent: string;
  private readonly warnings = new Set<string>();
  private ping: Promise<void> | undefined;

  constructor(
    readonly registry: string,
    private readonly options: TransportOptions,
  ) {
    this.baseUrl = new URL(`${options.insecure ? "http" : "https"}://${registry}/`);
    this.userAgent = options.userAgent ?? "images-copier";
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.dispatcher = createAgent({
      ca: options.ca,
      connections: options.connections ?? 16,
      headersTimeoutMs: options.headersTimeoutMs ?? DEFAULT_TIMEOUTS.headersTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_TIMEOUTS.bodyTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectTimeoutMs,
      proxy: options.proxy,
    });
    this.auth = new Authenticator(registry, this.baseUrl, options, this.dispatcher, this.userAgent);
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }

  /** GET /v2/ once to learn how the registry authenticates (and whether it is reachable at all). */
  ensurePinged(): Promise<void> {
    if (!this.ping) {
      this.ping = this.doPing();
      this.ping.catch(() => {
        this.ping = undefined; // a later call may try again
      });
    }
    return this.ping;
  }

  /**
   * Fails with one line when the registry refuses our credentials: GET /v2/ sent with them (after the token
   * exchange for `scopes` on a Bearer registry) must not answer 401 or 403. Some registries answer a wrong
   * password with 403, which a manifest HEAD cannot tell from Artifactory's "403 = absent".
   */
  async checkCredentials(scopes: string[]): Promise<void> {
    await this.ensurePinged();
    if (!this.auth.hasCredentials || !this.auth.wantsAuthorization) return;
    const res = await this.send({ method: "GET", url: "/v2/", scopes });
    await res.body.dump();
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new AuthError(this.auth.refusedMessage(`GET /v2/ answered ${res.statusCode}`));
    }
  }

  private async doPing(): Promise<void> {
    const res = await retryAnswer(
      this.retry,
      async () => {
        const answer = await this.exchange({ method: "GET", url: "/v2/", scopes: [] }, undefined);
        await answer.body.dump();
        return answer;
      },
      (answer) => ({ status: answer.statusCode, retryAfterMs: parseRetryAfter(answer.headers["retry-after"]) }),
    );
    if (res.statusCode === 401) {
      this.auth.setChallenge(res.headers["www-authenticate"]);
    } else if (res.statusCode >= 200 && res.statusCode < 300) {
      this.auth.setChallenge(undefined);
    } else if (res.statusCode === 404) {
      throw new ConnectionError(`${this.baseUrl.origin} is not a container registry (GET /v2/ answered 404)`);
    } else {
      // Some proxies answer /v2/ oddly; go on without a challenge and let real requests tell.
      this.auth.setChallenge(undefined);
    }
  }

  /** Sends a request with authorization and retries; the caller reads or dumps the body of the returned response. */
  async send(opts: SendOptions): Promise<Response> {
    await this.ensurePinged();
    const replayable = !opts.body || typeof opts.body === "string" || Buffer.isBuffer(opts.body);
    let renewedAuth = false;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      let authorization: string | undefined;
      try {
        authorization = await this.auth.authorization(opts.scopes);
      } catch (err) {
        // The token service failed before any body was sent, so even a streamed request may try again; a 401/403
        // from it (wrong credentials) is final.
        const status = err instanceof AuthError ? err.status : undefined;
        if (status !== undefined ? isRetryableStatus(status) : isConnectionError(err)) {
          const delay = backoffDelay(this.retry, attempt, (err as AuthError).retryAfterMs);
          if (mayRetry(this.retry, attempt, Date.now() - started, delay)) {
            this.noteRetry(opts, (err as Error).message, attempt, delay);
            await sleep(delay, opts.signal);
            continue;
          }
        }
        throw err;
      }
      let res: Response;
      try {
        res = await this.exchange(opts, authorization);
      } catch (err) {
        if (replayable && isConnectionError(err)) {
          const delay = backoffDelay(this.retry, attempt);
          if (mayRetry(this.retry, attempt, Date.now() - started, delay)) {
            this.noteRetry(opts, (err as Error).message, attempt, delay);
            await sleep(delay, opts.signal);
            continue;
          }
        }
        throw err;
      }
      this.noteWarnings(res.headers.warning);
      if (res.statusCode === 401) {
        this.auth.rejected(opts.scopes, res.headers["www-authenticate"]);
        if (replayable && !renewedAuth) {
          renewedAuth = true;
          await res.body.dump();
          attempt--; // a renewed token is not a retry
          continue;
        }
        return res;
      }
      if (replayable && isRetryableStatus(res.statusCode)) {
        const delay = backoffDelay(this.retry, attempt, parseRetryAfter(res.headers["retry-after"]));
        if (mayRetry(this.retry, attempt, Date.now() - started, delay)) {
          await res.body.dump();
          this.noteRetry(opts, `HTTP ${res.statusCode}`, attempt, delay);
          await sleep(delay, opts.signal);
          continue;
        }
      }
      return res;
    }
  }

  /** One request plus redirects (GET/HEAD only), sending Authorization only to the registry's own origin. */
  private async exchange(opts: SendOptions, authorization: string | undefined): Promise<Response> {
    let url = typeof opts.url === "string" ? new URL(opts.url, this.baseUrl) : opts.url;
    if (authorization && url.protocol === "http:" && this.baseUrl.protocol === "https:") {
      // An upload Location the registry (or a TLS-terminating proxy in front of it) made plain http.
      throw new AuthError(
        `registry ${this.registry} is https but points ${opts.method} to plain http (${url.protocol}//${url.host}${url.pathname}); not sending credentials there`,
      );
    }
    let auth = authorization;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { "user-agent": this.userAgent, ...opts.headers };
      if (auth && url.origin === this.baseUrl.origin) headers.authorization = auth;
      let res: Response;
      try {
        res = await request(url, {
          method: opts.method,
          headers,
          body: opts.body ?? undefined,
          dispatcher: this.dispatcher,
          signal: opts.signal,
        });
      } catch (err) {
        // Errors of our own (e.g. a digest mismatch raised by the body stream) pass through unchanged.
        if (typeof (err as { code?: unknown }).code !== "string" && !isConnectionError(err)) throw err;
        throw connectionError(err, `${opts.method} ${url.origin}${url.pathname}`);
      }
      const location = res.headers.location;
      const isRedirect = res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304;
      if (!isRedirect || !opts.followRedirects || typeof location !== "string" || hop >= MAX_REDIRECTS) return res;
      await res.body.dump();
      const next = new URL(location, url);
      if (next.origin !== url.origin) auth = undefined;
      url = next;
    }
  }

  private noteRetry(opts: SendOptions, why: string, attempt: number, delayMs: number): void {
    const path = typeof opts.url === "string" ? opts.url.split("?")[0] : opts.url.pathname;
    this.options.onRetry?.(
      `${opts.method} ${this.registry}${path.startsWith("/") ? path : ` ${path}`}: ${why}; retry ${attempt} of ${this.retry.maxAttempts - 1} in ${Math.round(delayMs)} ms`,
    );
  }

  private noteWarnings(header: string | string[] | undefined): void {
    if (!header) return;
    for (const value of Array.isArray(header) ? header : [header]) {
      const text = /^\s*\d{3}\s+\S+\s+"(.*)"/.exec(value)?.[1] ?? value;
      if (this.warnings.has(text)) continue;
      this.warnings.add(text);
      this.options.onWarning?.(`registry ${this.registry} warns: ${text}`);
    }
  }
}

/** A network failure named after what failed (`GET https://host/v2/...`); keeps the code, so it is still retried. */
export function connectionError(err: unknown, what: string): Error {
  const e = err as Error & { code?: string; cause?: Error & { code?: string } };
  const detail = [e.code ?? e.cause?.code, e.cause?.message ?? e.message].filter(Boolean).join(" ");
  const wrapped = new ConnectionError(`${what}: ${detail}`, { cause: err });
  (wrapped as { code?: string }).code = e.code ?? e.cause?.code;
  return wrapped;
}
