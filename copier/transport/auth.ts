// Authorization for one registry: anonymous, basic, or bearer tokens obtained from the realm named by the
// `WWW-Authenticate` challenge, cached per scope set and renewed shortly before they expire or after a 401.
// Credentials go to a token realm only over https, or over plain http to the registry's own host when the registry
// itself is plain http; a realm or a redirect elsewhere is refused with one line, before anything is sent.

import { request, type Dispatcher } from "./undici";
import * as z from "zod";
import { parseChallenges, type Challenge } from "./challenge";
import { registerSecret } from "./redact";
import { parseRetryAfter } from "./retry";

export interface Credentials {
  username?: string;
  password?: string;
}

const tokenResponseSchema = z.object({
  token: z.string().optional(),
  access_token: z.string().optional(),
  expires_in: z.number().optional(),
  issued_at: z.string().optional(),
});

interface CachedToken {
  value: string;
  expiresAt: number;
  renewAt: number;
}

export class AuthError extends Error {
  override name = "AuthError";
  /** The token service's HTTP status when it answered (so 5xx/429 can be retried and 401/403 not). */
  status?: number;
  /** The token service's Retry-After, in ms. */
  retryAfterMs?: number;
}

/** Seconds a token lives when the server does not say (distribution's token spec). */
const DEFAULT_TOKEN_SECONDS = 60;
/** Redirects a token request may follow. */
const MAX_TOKEN_REDIRECTS = 5;

export class Authenticator {
  private challenge: Challenge | null | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly registry: string,
    /** The registry's base URL: its scheme and host decide where credentials may go. */
    private readonly registryUrl: URL,
    private readonly credentials: Credentials,
    private readonly dispatcher: Dispatcher,
    private readonly userAgent: string,
  ) {
    registerSecret(credentials.password);
    if (credentials.username && credentials.password) registerSecret(this.basicValue());
  }

  get hasCredentials(): boolean {
    return Boolean(this.credentials.username || this.credentials.password);
  }

  /** Records the challenge the registry answered `/v2/` (or any request) with; null = no auth needed. */
  setChallenge(header: string | string[] | undefined): void {
    const parsed = parseChallenges(header);
    this.challenge = parsed.find((c) => c.scheme === "bearer") ?? parsed.find((c) => c.scheme === "basic") ?? null;
  }

  /** The registry asked for authorization (basic or bearer), so requests carry our credentials. */
  get wantsAuthorization(): boolean {
    return Boolean(this.challenge);
  }

  get knowsChallenge(): boolean {
    return this.challenge !== undefined;
  }

  /** The Authorization header value for a request needing `scopes`, or undefined for anonymous access. */
  async authorization(scopes: string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) {
      // No challenge seen: send basic credentials preemptively only when we know the server wants them.
      return undefined;
    }
    if (challenge.scheme === "basic") {
      return this.hasCredentials ? `Basic ${this.basicValue()}` : undefined;
    }
    if (challenge.scheme === "bearer") {
      const token = await this.token(challenge, scopes);
      return `Bearer ${token.value}`;
    }
    throw new AuthError(`registry ${this.registry} asks for unsupported authentication "${challenge.scheme}"`);
  }

  /** After a 401: forget the token for these scopes (and adopt a challenge if the registry sent a new one). */
  rejected(scopes: string[], header: string | string[] | undefined): void {
    const parsed = parseChallenges(header);
    if (parsed.length > 0) this.setChallenge(header);
    this.tokens.delete(scopeKey(scopes));
  }

  /** One line saying the credentials were refused; names the user, never the password. */
  refusedMessage(why: string): string {
    return `registry ${this.registry} refused the credentials${this.hasCredentials ? ` of user "${this.credentials.username}"` : " (anonymous)"} (${why})`;
  }

  private checkCredentialsMayGo(url: URL, from: URL | undefined): void {
    const refusal = credentialsRefusal(this.registryUrl, url, from);
    if (refusal) throw new AuthError(`registry ${this.registry}: not sending the credentials of user "${this.credentials.username ?? ""}": ${refusal}`);
  }

  private basicValue(): string {
    return Buffer.from(`${this.credentials.username ?? ""}:${this.credentials.password ?? ""}`).toString("base64");
  }

  private async token(challenge: Challenge, scopes: string[]): Promise<CachedToken> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && Date.now() < cached.renewAt) return cached;
    let inflight = this.pending.get(key);
    if (!inflight) {
      inflight = this.fetchToken(challenge, scopes).finally(() => this.pending.delete(key));
      this.pending.set(key, inflight);
    }
    const token = await inflight;
    this.tokens.set(key, token);
    return token;
  }

  private async fetchToken(challenge: Challenge, scopes: string[]): Promise<CachedToken> {
    const realm = challenge.params.realm;
    if (!realm) throw new AuthError(`registry ${this.registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new AuthError(`registry ${this.registry} sent an unusable token realm "${realm}"`);
    }
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    for (const scope of [...new Set(scopes)].sort()) url.searchParams.append("scope", scope);
    const headers: Record<string, string> = { "user-agent": this.userAgent, accept: "application/json" };
    if (this.hasCredentials) headers.authorization = `Basic ${this.basicValue()}`;

    const started = Date.now();
    let res;
    let from: URL | undefined;
    for (let hop = 0; ; hop++) {
      if (this.hasCredentials) this.checkCredentialsMayGo(url, from);
      try {
        res = await request(url, { method: "GET", headers, dispatcher: this.dispatcher });
      } catch (err) {
        throw new AuthError(`cannot reach the token service of ${this.registry} at ${url.origin}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const location = res.headers.location;
      if (res.statusCode < 300 || res.statusCode >= 400 || typeof location !== "string" || hop >= MAX_TOKEN_REDIRECTS) break;
      await res.body.dump();
      from = url;
      url = new URL(location, url);
    }
    const text = await res.body.text();
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw withStatus(new AuthError(this.refusedMessage(`token service answered ${res.statusCode}`)), res.statusCode);
    }
    if (res.statusCode !== 200) {
      const err = withStatus(new AuthError(`token service of ${this.registry} answered HTTP ${res.statusCode}`), res.statusCode);
      err.retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
      throw err;
    }
    let body: z.infer<typeof tokenResponseSchema>;
    try {
      body = tokenResponseSchema.parse(JSON.parse(text));
    } catch {
      throw new AuthError(`token service of ${this.registry} sent an unreadable answer`);
    }
    const value = body.token || body.access_token;
    if (!value) throw new AuthError(`token service of ${this.registry} sent no token`);
    registerSecret(value);
    const lifetimeMs = (body.expires_in && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS) * 1000;
    const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
    // A clock skew between us and the token server must not make a fresh token look expired.
    const base = Number.isNaN(issued) || issued > Date.now() || issued < started - lifetimeMs ? Date.now() : issued;
    const expiresAt = base + lifetimeMs;
    const margin = Math.min(30_000, lifetimeMs / 5);
    return { value, expiresAt, renewAt: expiresAt - margin };
  }
}

/**
 * Why basic credentials may not be sent to `url` (a token realm, or where it redirected `from`), or undefined
 * when they may: over https anywhere the registry's challenge points; over plain http only to the registry's own
 * host, only when the registry itself is plain http (`insecure`, as configured), and never after a redirect from
 * https.
 */
function credentialsRefusal(registryUrl: URL, url: URL, from?: URL): string | undefined {
  if (url.protocol === "https:") return undefined;
  const where = `${url.protocol}//${url.host}${url.pathname}`;
  const what = from ? `the token service at ${from.protocol}//${from.host}${from.pathname} redirected to ${where}` : `its token realm is ${where}`;
  if (url.protocol !== "http:") return `${what}, not an https URL`;
  if (from?.protocol === "https:") return `${what}, from https to plain http`;
  if (registryUrl.protocol === "https:") return `${what}, plain http, while the registry itself is https`;
  if (url.hostname !== registryUrl.hostname) return `${what}, plain http on another host`;
  return undefined;
}

function withStatus(err: AuthError, status: number): AuthError {
  err.status = status;
  return err;
}

export function scopeKey(scopes: string[]): string {
  return [...new Set(scopes)].sort().join(" ");
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}
