// The check Deckhouse's `change-registry` helper makes before it switches a cluster: `GET <scheme>://<host>/v2/`
// without credentials must answer 401 with a `WWW-Authenticate: Bearer` challenge, because Deckhouse (containerd
// on every node) pulls only through token auth. A basic-auth-only or anonymous registry passes an existence check
// and still leaves every node unable to pull.

import { createAgent, DEFAULT_TIMEOUTS } from "./transport/agent";
import { parseChallenges } from "./transport/challenge";
import type { ProxySettings } from "./transport/proxy";
import { redact } from "./transport/redact";
import { DEFAULT_RETRY, parseRetryAfter, retryAnswer, type RetryPolicy } from "./transport/retry";
import { request } from "./transport/undici";

export interface BearerCheckAccess {
  insecure?: boolean;
  ca?: string;
  proxy?: ProxySettings;
}

export interface BearerCheckResult {
  registry: string;
  ok: boolean;
  /** The status GET /v2/ answered with, when it answered. */
  status?: number;
  /** Lower-case schemes of the challenges it sent, e.g. ["basic"]. */
  schemes: string[];
  /** One line: why the registry is refused, or what it answered. */
  message: string;
}

/** Few and short: the check runs while `pulumi preview` waits. */
const CHECK_RETRY: RetryPolicy = { ...DEFAULT_RETRY, maxAttempts: 3, maxElapsedMs: 30_000 };

const ENABLE_TOKEN_AUTH =
  "Deckhouse pulls only with Bearer tokens: enable token authentication on the registry (Nexus: the Docker Bearer Token Realm; distribution: auth.token; Harbor, Quay, GitLab and cloud registries have it)";

function verdict(registry: string, status: number, header: string | string[] | undefined): BearerCheckResult {
  const challenges = parseChallenges(header);
  const schemes = [...new Set(challenges.map((c) => c.scheme))];
  const bearer = challenges.find((c) => c.scheme === "bearer");
  const base = { registry, status, schemes };
  if (status === 401 && bearer?.params.realm) {
    return { ...base, ok: true, message: `registry ${registry} asks for Bearer tokens (realm ${bearer.params.realm})` };
  }
  if (status === 401 && bearer) {
    return { ...base, ok: false, message: `registry ${registry} sends a Bearer challenge without a realm on GET /v2/; ${ENABLE_TOKEN_AUTH}` };
  }
  if (status === 401) {
    const offered = schemes.length > 0 ? `only ${schemes.map((s) => `"${s}"`).join(", ")} authentication` : "no WWW-Authenticate challenge";
    return { ...base, ok: false, message: `registry ${registry} answers GET /v2/ with 401 and ${offered}; ${ENABLE_TOKEN_AUTH}` };
  }
  if (status >= 200 && status < 300) {
    return { ...base, ok: false, message: `registry ${registry} answers GET /v2/ with ${status} without asking for credentials; ${ENABLE_TOKEN_AUTH}` };
  }
  if (status === 404) {
    return { ...base, ok: false, message: `${registry} is not a container registry (GET /v2/ answered 404)` };
  }
  return { ...base, ok: false, message: `registry ${registry} answers GET /v2/ with ${status}, not 401 with a Bearer challenge; ${ENABLE_TOKEN_AUTH}` };
}

/** GET /v2/ without credentials, retried a few times on connection errors, 5xx and 429; never rejects. */
export async function checkBearerAuth(registry: string, access: BearerCheckAccess = {}): Promise<BearerCheckResult> {
  const url = new URL(`${access.insecure ? "http" : "https"}://${registry}/v2/`);
  const dispatcher = createAgent({ ...DEFAULT_TIMEOUTS, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000, ca: access.ca, connections: 1, proxy: access.proxy });
  try {
    let answer: { status: number; header: string | string[] | undefined; retryAfterMs?: number };
    try {
      answer = await retryAnswer(
        CHECK_RETRY,
        async () => {
          const res = await request(url, { method: "GET", headers: { "user-agent": "images-copier", accept: "application/json" }, dispatcher });
          await res.body.dump();
          return { status: res.statusCode, header: res.headers["www-authenticate"], retryAfterMs: parseRetryAfter(res.headers["retry-after"]) };
        },
        (a) => a,
      );
    } catch (err) {
      return { registry, ok: false, schemes: [], message: `cannot reach registry ${registry} at ${url.origin}: ${redact((err as Error).message)}` };
    }
    return verdict(registry, answer.status, answer.header);
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
}
