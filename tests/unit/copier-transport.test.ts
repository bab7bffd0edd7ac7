// Transport behaviour a real registry cannot be made to show on demand (429 with Retry-After, a token rejected
// mid-run, redirects to another host), against a tiny HTTP server on 127.0.0.1.
import { RegistryTransport } from "../../copier/transport/transport";
import { redact } from "../../copier/transport/redact";
import { describeErrorBody } from "../../copier/registry/errors";
import { serveStub as serve } from "../helpers/http-stub";

const fast = { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 4, maxElapsedMs: 10_000, maxRetryAfterMs: 2_000 };

describe("registry transport", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  });

  it("waits out a 429 with Retry-After, then succeeds", async () => {
    let manifestCalls = 0;
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") { res.writeHead(200).end(); return; }
      manifestCalls++;
      if (manifestCalls === 1) { res.writeHead(429, { "retry-after": "1" }).end('{"errors":[{"code":"TOOMANYREQUESTS"}]}'); return; }
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
    closers.push(srv.close);
    const retries: string[] = [];
    const t = new RegistryTransport(srv.host, { insecure: true, retry: fast, onRetry: (m) => retries.push(m) });
    closers.push(() => t.close());
    const res = await t.send({ method: "GET", url: "/v2/a/manifests/x", scopes: [] });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("ok");
    expect(manifestCalls).toBe(2);
    // the planned wait is the server's Retry-After (1 s), not the policy's 10-50 ms backoff
    expect(retries).toEqual([expect.stringMatching(/GET .*\/v2\/a\/manifests\/x: .*429.*; retry 1 of 3 in 1000 ms$/)]);
  });

  it("gives up after the bounded number of attempts and returns the last answer", async () => {
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") { res.writeHead(200).end(); return; }
      res.writeHead(503).end("<html>down</html>");
    });
    closers.push(srv.close);
    const t = new RegistryTransport(srv.host, { insecure: true, retry: fast });
    closers.push(() => t.close());
    const res = await t.send({ method: "GET", url: "/v2/a/manifests/x", scopes: [] });
    expect(res.statusCode).toBe(503);
    await res.body.dump();
    expect(srv.seen.filter((s) => s.url !== "/v2/")).toHaveLength(fast.maxAttempts);
  });

  it("follows the Bearer challenge, caches the token per scope and renews it after a 401", async () => {
    let issued = 0;
    let rejectNext = false;
    const srv = await serve((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/token") {
        issued++;
        expect(req.headers.authorization).toBe(`Basic ${Buffer.from('u:p"a:ss').toString("base64")}`);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ access_token: `tok-${issued}-${url.searchParams.getAll("scope").join("+")}`, expires_in: 300 }));
        return;
      }
      const challenge = `Bearer realm="http://${req.headers.host}/token",service="test"`;
      if (!req.headers.authorization?.startsWith("Bearer ") || rejectNext) {
        rejectNext = false;
        { res.writeHead(401, { "www-authenticate": challenge }).end(); return; }
      }
      res.writeHead(200).end(req.headers.authorization);
    });
    closers.push(srv.close);
    const t = new RegistryTransport(srv.host, { insecure: true, username: "u", password: 'p"a:ss', retry: fast });
    closers.push(() => t.close());
    const scopes = ["repository:a:pull"];
    const first = await (await t.send({ method: "GET", url: "/v2/a/manifests/x", scopes })).body.text();
    const second = await (await t.send({ method: "GET", url: "/v2/a/manifests/y", scopes })).body.text();
    expect(first).toBe("Bearer tok-1-repository:a:pull");
    expect(second).toBe(first); // cached
    rejectNext = true; // the registry now says the token expired
    const third = await (await t.send({ method: "GET", url: "/v2/a/manifests/z", scopes })).body.text();
    expect(third).toBe("Bearer tok-2-repository:a:pull");
    const other = await (await t.send({ method: "GET", url: "/v2/b/manifests/z", scopes: ["repository:b:pull"] })).body.text();
    expect(other).toBe("Bearer tok-3-repository:b:pull");
    expect(redact(`oops ${third.slice(7)} and p"a:ss`)).toBe("oops *** and ***");
  });

  it("follows a blob redirect to another host without forwarding Authorization", async () => {
    const storage = await serve((_req, res) => res.writeHead(200).end("blob-bytes"));
    closers.push(storage.close);
    const reg = await serve((req, res) => {
      if (req.url === "/v2/") { res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end(); return; }
      res.writeHead(307, { location: `http://${storage.host}/data/1?sig=abc` }).end();
    });
    closers.push(reg.close);
    const t = new RegistryTransport(reg.host, { insecure: true, username: "u", password: "secret-pw", retry: fast });
    closers.push(() => t.close());
    const res = await t.send({ method: "GET", url: "/v2/a/blobs/sha256:1", scopes: [], followRedirects: true });
    expect(await res.body.text()).toBe("blob-bytes");
    expect(reg.seen[1].authorization).toMatch(/^Basic /);
    expect(storage.seen).toEqual([{ method: "GET", url: "/data/1?sig=abc", authorization: undefined, scheme: "http" }]);
  });

  it("shows each Warning header once, however often the registry repeats it", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { warning: '299 - "this registry is deprecated"' }).end();
    });
    closers.push(srv.close);
    const warnings: string[] = [];
    const t = new RegistryTransport(srv.host, { insecure: true, retry: fast, onWarning: (m) => warnings.push(m) });
    closers.push(() => t.close());
    for (let i = 0; i < 3; i++) await (await t.send({ method: "GET", url: "/v2/a/manifests/x", scopes: [] })).body.dump();
    expect(warnings).toEqual([`registry ${srv.host} warns: this registry is deprecated`]);
  });
});

describe("registry error bodies", () => {
  it("reads the spec's {errors:[...]} and tolerates HTML or empty bodies", () => {
    expect(describeErrorBody('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}')).toEqual({
      summary: "MANIFEST_UNKNOWN: manifest unknown",
      codes: ["MANIFEST_UNKNOWN"],
    });
    expect(describeErrorBody("<html><body><h1>413 Request Entity Too Large</h1></body></html>")).toEqual({
      summary: "413 Request Entity Too Large",
      codes: [],
    });
    expect(describeErrorBody("")).toEqual({ summary: "", codes: [] });
  });
});
