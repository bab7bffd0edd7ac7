// Where the copier's credentials may go: a token realm over plain http when the registry is https, a realm's
// redirect to plain http, a realm on another host over plain http, a registry redirect to plain http on the same
// host and port, and an upload Location made plain http. Stubs on 127.0.0.1 (HTTPS and, on the same port, plain
// HTTP) record what arrived in clear; each refusal is one line naming the URL and the user, never the password.
import { copyRelease } from "../../copier/copy";
import { AuthError } from "../../copier/transport/auth";
import { RegistryTransport } from "../../copier/transport/transport";
import { testCerts, type TestCerts } from "../helpers/certs";
import { serveStub, type Handler, type HttpStub } from "../helpers/http-stub";

const PASSWORD = 'p"a:ss-w0rd';
const BASIC = `Basic ${Buffer.from(`u:${PASSWORD}`).toString("base64")}`;
const fast = { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 3, maxElapsedMs: 5_000, maxRetryAfterMs: 100 };

describe("credentials never travel in clear or to a host they do not belong to", () => {
  let certs: TestCerts;
  const closers: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    certs = await testCerts();
  });
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  });

  async function stub(handler: Handler, tls = true): Promise<HttpStub> {
    const s = await serveStub(handler, tls ? { tls: { key: certs.keyPem, cert: certs.certPem } } : {});
    closers.push(s.close);
    return s;
  }

  /** A registry that asks for a bearer token from `realm()` and accepts any bearer token. */
  function bearerRegistry(realm: () => string): Handler {
    return (req, res) => {
      if (req.headers.authorization?.startsWith("Bearer ")) return void res.writeHead(200).end("ok");
      res.writeHead(401, { "www-authenticate": `Bearer realm="${realm()}",service="test"` }).end();
    };
  }

  const tokenService: Handler = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: "tok-123456", expires_in: 300 }));
  };

  function transport(host: string, insecure = false): RegistryTransport {
    const t = new RegistryTransport(host, { insecure, ca: insecure ? undefined : certs.caPem, username: "u", password: PASSWORD, retry: fast });
    closers.push(() => t.close());
    return t;
  }

  async function refusal(t: RegistryTransport, url = "/v2/a/manifests/x"): Promise<string> {
    const err = await t.send({ method: "GET", url, scopes: ["repository:a:pull"] }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(AuthError);
    const message = (err as Error).message;
    expect(message).not.toContain(PASSWORD);
    expect(message).not.toContain("\n");
    return message;
  }

  const clear = (s: HttpStub) => s.seen.filter((x) => x.scheme === "http" && x.authorization !== undefined);

  it("refuses a token realm over plain http when the registry is https; nothing reaches the realm", async () => {
    const token = await stub(tokenService, false);
    const reg = await stub(bearerRegistry(() => `http://${token.host}/token`));
    const message = await refusal(transport(reg.host));
    expect(message).toBe(
      `registry ${reg.host}: not sending the credentials of user "u": its token realm is http://${token.host}/token, plain http, while the registry itself is https`,
    );
    expect(token.seen).toEqual([]);
  });

  it("refuses to follow a realm's redirect from https to plain http, even on the same host and port", async () => {
    const token = await stub((req, res) => {
      if (req.url?.startsWith("/token?")) return void res.writeHead(302, { location: `http://${req.headers.host}/plain-token` }).end();
      tokenService(req, res, []);
    });
    const reg = await stub(bearerRegistry(() => `https://${token.host}/token`));
    const message = await refusal(transport(reg.host));
    expect(message).toBe(
      `registry ${reg.host}: not sending the credentials of user "u": the token service at https://${token.host}/token redirected to http://${token.host}/plain-token, from https to plain http`,
    );
    // the https realm got them (as the registry's challenge said), the plain-http address nothing
    expect(token.seen.map((s) => [s.scheme, s.url.split("?")[0], s.authorization])).toEqual([["https", "/token", BASIC]]);
  });

  it("sends them to a realm on another host only over https", async () => {
    // 127.0.0.1 is the registry, localhost "another host" (the test certificate names both)
    const plainToken = await stub(tokenService, false);
    const plainReg = await stub(bearerRegistry(() => `http://localhost:${plainToken.host.split(":")[1]}/token`), false);
    const message = await refusal(transport(plainReg.host, true));
    expect(message).toBe(
      `registry ${plainReg.host}: not sending the credentials of user "u": its token realm is http://localhost:${plainToken.host.split(":")[1]}/token, plain http on another host`,
    );
    expect(plainToken.seen).toEqual([]);

    const httpsToken = await stub(tokenService);
    const reg = await stub(bearerRegistry(() => `https://localhost:${httpsToken.host.split(":")[1]}/token`));
    const res = await transport(reg.host).send({ method: "GET", url: "/v2/a/manifests/x", scopes: ["repository:a:pull"] });
    expect([res.statusCode, await res.body.text()]).toEqual([200, "ok"]);
    expect(httpsToken.seen.map((s) => [s.scheme, s.authorization])).toEqual([["https", BASIC]]);
  });

  it("still sends them over plain http to the realm of a plain-http registry on its own host (as configured)", async () => {
    const token = await stub(tokenService, false);
    const reg = await stub(bearerRegistry(() => `http://${token.host}/token`), false);
    const res = await transport(reg.host, true).send({ method: "GET", url: "/v2/a/manifests/x", scopes: ["repository:a:pull"] });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(token.seen.map((s) => s.authorization)).toEqual([BASIC]);
  });

  it("follows a registry's redirect to plain http on its own host and port without Authorization", async () => {
    const reg = await stub((req, res) => {
      if (!req.headers.authorization && req.url === "/v2/") return void res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end();
      if (req.url?.startsWith("/v2/a/blobs/")) return void res.writeHead(307, { location: `http://${req.headers.host}/storage/1` }).end();
      res.writeHead(200).end("blob-bytes");
    });
    const res = await transport(reg.host).send({ method: "GET", url: "/v2/a/blobs/sha256:1", scopes: [], followRedirects: true });
    expect(await res.body.text()).toBe("blob-bytes");
    expect(reg.seen.map((s) => [s.scheme, s.url, s.authorization])).toEqual([
      ["https", "/v2/", undefined],
      ["https", "/v2/a/blobs/sha256:1", BASIC],
      ["http", "/storage/1", undefined],
    ]);
  });

  it("refuses an upload Location made plain http by an https registry, naming it in the copy's one-line error", async () => {
    const source = await stub((req, res) => {
      if (req.url === "/v2/") return void res.writeHead(200).end();
      const config = Buffer.from("{}");
      if (req.url?.includes("/blobs/")) return void res.writeHead(200, { "content-length": config.length }).end(config);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 },
        layers: [],
      });
      res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(req.method === "HEAD" ? undefined : manifest);
    }, false);
    const target = await stub((req, res) => {
      if (!req.headers.authorization) return void res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end();
      if (req.method === "POST") return void res.writeHead(202, { location: `http://${req.headers.host}/v2/mirror/blobs/uploads/1` }).end();
      res.writeHead(404).end();
    });
    const report = await copyRelease({
      source: { insecure: true, image: `${source.host}/deckhouse/ee:v1` },
      target: { insecure: false, ca: certs.caPem, username: "u", password: PASSWORD, image: `${target.host}/mirror:v1` },
      images: { mod: { img: "v1" } },
      retry: fast,
    });
    expect(report.status).toBe("failed");
    expect(report.error).toMatch(
      new RegExp(`registry ${target.host} is https but points PUT to plain http \\(http://${target.host}/v2/mirror/blobs/uploads/1\\); not sending credentials there$`),
    );
    expect(report.error).not.toContain(PASSWORD);
    expect(clear(target)).toEqual([]);
    expect(target.seen.filter((s) => s.scheme === "http")).toEqual([]);
  });
});
