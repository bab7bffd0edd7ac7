// A tiny registry HTTP client for test fixtures (independent of copier/): answers basic and bearer challenges,
// caches tokens per scope, and trusts the test CA through the registry's dispatcher.
import type { Readable } from "node:stream";
import { request, type Dispatcher } from "undici";
import type { TestRegistry } from "./registry";

type Method = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function header(headers: RegistryResponse["headers"], name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export { header as responseHeader };

function parseChallenge(text: string): { scheme: string; params: Record<string, string> } {
  const space = text.indexOf(" ");
  const scheme = (space < 0 ? text : text.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of text.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[m[1]] = m[2];
  return { scheme, params };
}

export class FixtureClient {
  private readonly tokens = new Map<string, string>();

  constructor(private readonly reg: TestRegistry) {}

  private basic(): string | undefined {
    if (this.reg.username === undefined) return undefined;
    return `Basic ${Buffer.from(`${this.reg.username}:${this.reg.password}`).toString("base64")}`;
  }

  private async token(challenge: Record<string, string>, repository: string): Promise<string> {
    const scope = `repository:${repository}:pull,push`;
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set("service", challenge.service);
    url.searchParams.set("scope", scope);
    const auth = this.basic();
    const res = await request(url, {
      dispatcher: this.reg.dispatcher,
      headers: auth ? { authorization: auth } : {},
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`token server answered ${res.statusCode}`);
    const json = JSON.parse(text) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token) throw new Error("token server returned no token");
    this.tokens.set(repository, token);
    return token;
  }

  private authFor(repository: string): string | undefined {
    if (this.reg.auth === "basic") return this.basic();
    const token = this.tokens.get(repository);
    return token ? `Bearer ${token}` : undefined;
  }

  /** One request with auth; retried once after answering a 401 challenge. `path` starts with `/v2/` or is absolute. */
  async send(
    method: Method,
    repository: string,
    path: string,
    opts: { headers?: Record<string, string>; body?: Buffer | string | Readable; replayable?: boolean } = {},
  ): Promise<RegistryResponse> {
    const url = path.startsWith("http") ? path : `${this.reg.url}${path}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const auth = this.authFor(repository);
      const res: Dispatcher.ResponseData = await request(url, {
        method,
        dispatcher: this.reg.dispatcher,
        headers: { ...(opts.headers ?? {}), ...(auth ? { authorization: auth } : {}) },
        body: opts.body,
      });
      const body = method === "HEAD" ? Buffer.alloc(0) : Buffer.from(await res.body.arrayBuffer());
      if (method === "HEAD") await res.body.dump();
      const headers = res.headers as RegistryResponse["headers"];
      if (res.statusCode === 401 && attempt === 0 && opts.replayable !== false) {
        const challenge = parseChallenge(header(headers, "www-authenticate") ?? "");
        if (challenge.scheme === "bearer") {
          await this.token(challenge.params, repository);
          continue;
        }
      }
      return { status: res.statusCode, headers, body };
    }
    throw new Error("unreachable");
  }

  /** Makes sure a token is held before a non-replayable (streamed) request. */
  async warmUp(repository: string): Promise<void> {
    if (this.reg.auth !== "token" || this.tokens.has(repository)) return;
    await this.send("GET", repository, `/v2/${repository}/tags/list`);
  }
}

export function expectStatus(res: RegistryResponse, expected: number[], what: string): void {
  if (!expected.includes(res.status)) {
    throw new Error(`${what}: HTTP ${res.status} ${res.body.toString("utf8").slice(0, 300)}`);
  }
}
