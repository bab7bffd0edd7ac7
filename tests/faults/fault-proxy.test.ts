// The fault-injecting proxy itself, in front of real registries: it forwards and rewrites Locations, keeps token
// challenges working, and applies each fault exactly as many times as asked.
import { createHash, randomBytes } from "node:crypto";
import { Agent, request } from "undici";
import { testCerts } from "../helpers/certs";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy";
import { startRegistry, type TestRegistry } from "../helpers/registry";

const digestOf = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function pushBlob(origin: string, repo: string, bytes: Buffer, headers: Record<string, string> = {}, dispatcher?: Agent): Promise<{ postLocation: string; status: number }> {
  const post = await request(`${origin}/v2/${repo}/blobs/uploads/`, { method: "POST", headers, dispatcher });
  await post.body.dump();
  expect(post.statusCode).toBe(202);
  const postLocation = String(post.headers.location);
  const url = new URL(postLocation, origin);
  url.searchParams.set("digest", digestOf(bytes));
  const put = await request(url, { method: "PUT", body: bytes, headers: { ...headers, "content-type": "application/octet-stream" }, dispatcher });
  await put.body.dump();
  return { postLocation, status: put.statusCode };
}

describe("fault proxy in front of a plain registry", () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  const blob = randomBytes(256 * 1024);
  const blobPath = `/v2/proxy/test/blobs/${digestOf(blob)}`;

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy({ upstream: { host: reg.host, scheme: "http" } });
    const pushed = await pushBlob(proxy.origin, "proxy/test", blob);
    expect(pushed.status).toBe(201);
    expect(pushed.postLocation.startsWith(`${proxy.origin}/v2/proxy/test/blobs/uploads/`)).toBe(true);
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });
  afterEach(() => proxy.clearFaults());

  it("forwards requests and counts them by kind", async () => {
    proxy.resetCounters();
    const res = await request(proxy.origin + blobPath);
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(200);
    expect(digestOf(body)).toBe(digestOf(blob));
    const head = await request(proxy.origin + blobPath, { method: "HEAD" });
    await head.body.dump();
    expect(head.headers["content-length"]).toBe(String(blob.length));
    expect(proxy.counts()).toEqual({ "GET blob": 1, "HEAD blob": 1 });
  });

  it("answers a status the given number of times, then forwards", async () => {
    const rule = proxy.addFault({ method: "HEAD", path: /\/blobs\/sha256:/, fault: { type: "status", status: 429, retryAfterSeconds: 3 }, times: 2 });
    const statuses: number[] = [];
    let retryAfter: unknown;
    for (let i = 0; i < 3; i++) {
      const res = await request(proxy.origin + blobPath, { method: "HEAD" });
      await res.body.dump();
      statuses.push(res.statusCode);
      retryAfter ??= res.headers["retry-after"];
    }
    expect(statuses).toEqual([429, 429, 200]);
    expect(retryAfter).toBe("3");
    expect(rule.hits).toBe(2);
  });

  it("lets `after` matches through before faulting", async () => {
    proxy.addFault({ method: "GET", path: /\/blobs\//, fault: { type: "status", status: 503 }, after: 1 });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(proxy.origin + blobPath);
      await res.body.dump();
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([200, 503, 200]);
  });

  it("corrupts one byte of a blob body, keeping its length", async () => {
    proxy.addFault({ method: "GET", path: /\/blobs\//, fault: { type: "corrupt" } });
    const res = await request(proxy.origin + blobPath);
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(body.length).toBe(blob.length);
    expect(digestOf(body)).not.toBe(digestOf(blob));
    expect(body.filter((b, i) => b !== blob[i]).length).toBe(1);
  });

  it("resets the connection after N bytes of a response", async () => {
    proxy.addFault({ method: "GET", path: /\/blobs\//, fault: { type: "reset-response", afterBytes: 1000 } });
    const res = await request(proxy.origin + blobPath);
    await expect(res.body.arrayBuffer()).rejects.toThrow();
    const record = proxy.requests().pop();
    expect(record?.fault).toBe("reset-response");
    expect(record?.bytesOut).toBe(1000);
  });

  it("cuts a body shorter than afterBytes one byte before its end", async () => {
    proxy.addFault({ method: "GET", path: /\/blobs\//, fault: { type: "reset-response", afterBytes: 10 * blob.length } });
    const res = await request(proxy.origin + blobPath);
    await expect(res.body.arrayBuffer()).rejects.toThrow();
    expect(proxy.requests().pop()?.bytesOut).toBe(blob.length - 1);
  });

  it("resets the connection after N bytes of an upload, and the registry keeps nothing", async () => {
    const other = randomBytes(200 * 1024);
    proxy.addFault({ method: "PUT", path: /\/blobs\/uploads\//, fault: { type: "reset-request", afterBytes: 4096 } });
    await expect(pushBlob(proxy.origin, "proxy/test", other)).rejects.toThrow();
    const head = await request(`${reg.url}/v2/proxy/test/blobs/${digestOf(other)}`, { method: "HEAD" });
    await head.body.dump();
    expect(head.statusCode).toBe(404);
  });

  it("stalls a request until the client gives up", async () => {
    proxy.addFault({ method: "GET", path: /\/blobs\//, fault: { type: "stall", ms: Infinity } });
    await expect(request(proxy.origin + blobPath, { headersTimeout: 300 })).rejects.toThrow(/timeout/i);
    const res = await request(proxy.origin + blobPath);
    await res.body.dump();
    expect(res.statusCode).toBe(200);
  });
});

describe("fault proxy with TLS in front of a token-auth registry", () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let agent: Agent;

  beforeAll(async () => {
    reg = await startRegistry({ tls: true, auth: "token" });
    const certs = await testCerts();
    proxy = await startFaultProxy({ upstream: { host: reg.host, scheme: "https", caPem: reg.caPem }, tls: { key: certs.keyPem, cert: certs.certPem } });
    agent = new Agent({ connect: { ca: certs.caPem } });
  });
  afterAll(async () => {
    await agent?.close();
    await proxy?.stop();
    await reg?.stop();
  });

  it("passes the bearer challenge through and a token from the realm works via the proxy", async () => {
    const ping = await request(`${proxy.origin}/v2/`, { dispatcher: agent });
    await ping.body.dump();
    expect(ping.statusCode).toBe(401);
    const challenge = String(ping.headers["www-authenticate"]);
    const realm = /realm="([^"]+)"/.exec(challenge)?.[1] as string;
    expect(realm).toBe(reg.tokenServer?.realm);
    const tokenUrl = new URL(realm);
    tokenUrl.searchParams.set("service", /service="([^"]+)"/.exec(challenge)?.[1] ?? "");
    tokenUrl.searchParams.set("scope", "repository:proxy/tls:pull,push");
    const tokenRes = await request(tokenUrl, {
      dispatcher: agent,
      headers: { authorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString("base64")}` },
    });
    const token = ((await tokenRes.body.json()) as { token: string }).token;
    const bytes = randomBytes(10_000);
    const pushed = await pushBlob(proxy.origin, "proxy/tls", bytes, { authorization: `Bearer ${token}` }, agent);
    expect(pushed.status).toBe(201);
    expect(pushed.postLocation.startsWith(`${proxy.origin}/`)).toBe(true);
    expect(proxy.connections()).toBeGreaterThan(0);
  });
});

describe("fault proxy enforcing bearer token expiry", () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;

  beforeAll(async () => {
    // exp has one-second resolution: a longer life keeps the first request well inside it on a busy machine
    reg = await startRegistry({ auth: "token", tokenTtlSeconds: 3 });
    proxy = await startFaultProxy({ upstream: { host: reg.host, scheme: "http" }, enforceTokenExpiry: true });
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  it("answers 401 invalid_token with the registry's challenge once the token's exp has passed", async () => {
    const ping = await request(`${proxy.origin}/v2/`);
    await ping.body.dump();
    const tokenUrl = new URL(reg.tokenServer?.realm as string);
    tokenUrl.searchParams.set("scope", "repository:proxy/exp:pull");
    const tokenRes = await request(tokenUrl, { headers: { authorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString("base64")}` } });
    const token = ((await tokenRes.body.json()) as { token: string }).token;
    const exp = (JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) as { exp: number }).exp;
    const path = "/v2/proxy/exp/tags/list";
    const fresh = await request(proxy.origin + path, { headers: { authorization: `Bearer ${token}` } });
    await fresh.body.dump();
    expect(fresh.statusCode).toBe(404); // accepted, the repository is empty
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 100));
    const late = await request(proxy.origin + path, { headers: { authorization: `Bearer ${token}` } });
    await late.body.dump();
    expect(late.statusCode).toBe(401);
    expect(String(late.headers["www-authenticate"])).toContain(`realm="${reg.tokenServer?.realm}"`);
    expect(String(late.headers["www-authenticate"])).toContain('scope="repository:proxy/exp:pull",error="invalid_token"');
    expect(proxy.expiredTokens()).toBe(1);
  });
});
