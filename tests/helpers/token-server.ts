// A bearer-token server for distribution's `auth.token` (docs/spec/auth/token.md): checks basic credentials,
// grants the requested repository scopes to the one valid user, and signs RS256 JWTs with an `x5c` header whose
// certificate is the registry's `rootcertbundle`.
import { createSign, randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TestCerts } from "./certs";

export const TOKEN_ISSUER = "images-copier-test-issuer";
export const TOKEN_SERVICE = "images-copier-test-registry";

export interface TokenServer {
  realm: string;
  /** Tokens issued so far (a renewal shows up as one more). */
  issued(): number;
  /** Requests refused for bad or missing credentials. */
  refused(): number;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  certs: TestCerts;
  tls: boolean;
  username: string;
  password: string;
  ttlSeconds?: number;
  /**
   * distribution 2.8 accepts a token up to 60 s past its `exp` (clock-skew leeway). With exactExpiry the JWT's
   * `exp` is set 60 s early, so the registry starts refusing the token exactly `ttlSeconds` after issue
   * (expires_in still says ttlSeconds): expiring-token tests need not wait a minute.
   */
  exactExpiry?: boolean;
}

export const REGISTRY_JWT_LEEWAY_SECONDS = 60;

interface Access {
  type: string;
  name: string;
  actions: string[];
}

const GRANTABLE = new Set(["pull", "push", "delete", "*"]);

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** `repository:deckhouse/ee:pull,push` → access entry; the name may hold colons (`host:port/...`). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(",").filter(Boolean),
  };
}

function checkBasic(header: string | undefined, username: string, password: string): boolean | undefined {
  if (!header?.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return false;
  return decoded.slice(0, colon) === username && decoded.slice(colon + 1) === password;
}

export function signToken(
  certs: TestCerts,
  subject: string,
  access: Access[],
  ttlSeconds: number,
  nowSeconds: number,
  expShiftSeconds = 0,
): string {
  const header = { typ: "JWT", alg: "RS256", x5c: [certs.signerCertDerBase64] };
  const claims = {
    iss: TOKEN_ISSUER,
    sub: subject,
    aud: TOKEN_SERVICE,
    exp: nowSeconds + ttlSeconds - expShiftSeconds,
    nbf: nowSeconds - 1,
    iat: nowSeconds,
    jti: randomUUID(),
    access,
  };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign("RSA-SHA256").update(input).sign(certs.signerKeyPem);
  return `${input}.${base64url(signature)}`;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const ttl = opts.ttlSeconds ?? 300;
  let issued = 0;
  let refused = 0;

  const grant = (credentialsOk: boolean | undefined, scopes: string[], res: http.ServerResponse) => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    if (!credentialsOk) {
      refused++;
      reply(401, { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }, {
        "WWW-Authenticate": 'Basic realm="token"',
      });
      return;
    }
    const access: Access[] = [];
    for (const scope of scopes.flatMap((s) => s.split(" "))) {
      const parsed = parseScope(scope);
      if (parsed?.type !== "repository") continue;
      access.push({ ...parsed, actions: parsed.actions.filter((a) => GRANTABLE.has(a)) });
    }
    const now = Math.floor(Date.now() / 1000);
    const token = signToken(opts.certs, opts.username, access, ttl, now, opts.exactExpiry ? REGISTRY_JWT_LEEWAY_SECONDS : 0);
    issued++;
    reply(200, { token, access_token: token, expires_in: ttl, issued_at: new Date(now * 1000).toISOString() });
  };

  const handler: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/token" && req.method === "GET") {
      grant(checkBasic(req.headers.authorization, opts.username, opts.password), url.searchParams.getAll("scope"), res);
      return;
    }
    if (url.pathname === "/token" && req.method === "POST") {
      // OAuth2 password grant (token spec, oauth.md), as some clients use it.
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => {
        if (body.length < 64 * 1024) body += chunk;
      });
      req.on("end", () => {
        const form = new URLSearchParams(body);
        const ok = form.get("grant_type") === "password" && form.get("username") === opts.username && form.get("password") === opts.password;
        grant(ok, form.getAll("scope"), res);
      });
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ errors: [{ code: "NOT_FOUND", message: "not found" }] }));
  };

  const server = opts.tls
    ? https.createServer({ cert: opts.certs.certPem, key: opts.certs.keyPem }, handler)
    : http.createServer(handler);
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}/token`,
    issued: () => issued,
    refused: () => refused,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
