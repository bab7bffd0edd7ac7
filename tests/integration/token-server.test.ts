// The test token server on its own: credentials, granted scopes, signature and the counters tests rely on.
import { createVerify, X509Certificate } from "node:crypto";
import { request } from "undici";
import { testCerts } from "../helpers/certs";
import { parseScope, startTokenServer, TOKEN_ISSUER, TOKEN_SERVICE, type TokenServer } from "../helpers/token-server";

describe("token server", () => {
  let server: TokenServer;
  beforeAll(async () => {
    server = await startTokenServer({ certs: await testCerts(), tls: false, username: "u", password: 'p"w:x', ttlSeconds: 90 });
  });
  afterAll(() => server?.stop());

  const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;

  it("parses scopes whose repository name holds a port", () => {
    expect(parseScope("repository:127.0.0.1:5000/deckhouse/ee:pull,push")).toEqual({
      type: "repository", name: "127.0.0.1:5000/deckhouse/ee", actions: ["pull", "push"],
    });
    expect(parseScope("nonsense")).toBeUndefined();
  });

  it("refuses wrong credentials and counts the refusal", async () => {
    const before = server.refused();
    const res = await request(`${server.realm}?service=${TOKEN_SERVICE}&scope=repository:a/b:pull`, {
      headers: { authorization: basic("u", "wrong") },
    });
    await res.body.dump();
    expect(res.statusCode).toBe(401);
    expect(server.refused()).toBe(before + 1);
  });

  it("issues a signed RS256 token granting only known actions, with the configured lifetime", async () => {
    const before = server.issued();
    const res = await request(`${server.realm}?service=${TOKEN_SERVICE}&scope=repository:a/b:pull,push,bogus&scope=registry:catalog:*`, {
      headers: { authorization: basic("u", 'p"w:x') },
    });
    const body = (await res.body.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    expect(res.statusCode).toBe(200);
    expect(body.access_token).toEqual(body.token);
    expect(body.expires_in).toBe(90);
    expect(server.issued()).toBe(before + 1);

    const [h, c, sig] = body.token.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    const claims = JSON.parse(Buffer.from(c, "base64url").toString("utf8"));
    expect(header.alg).toBe("RS256");
    const cert = new X509Certificate(Buffer.from(header.x5c[0], "base64"));
    expect(cert.toString()).toEqual(new X509Certificate((await testCerts()).signerCertPem).toString());
    expect(createVerify("RSA-SHA256").update(`${h}.${c}`).verify(cert.publicKey, Buffer.from(sig, "base64url"))).toBe(true);
    expect(claims).toMatchObject({ iss: TOKEN_ISSUER, aud: TOKEN_SERVICE, sub: "u", access: [{ type: "repository", name: "a/b", actions: ["pull", "push"] }] });
    expect(claims.exp - claims.iat).toBe(90);
  });

  it("accepts the OAuth2 password grant", async () => {
    const res = await request(server.realm, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username: "u", password: 'p"w:x', service: TOKEN_SERVICE, scope: "repository:a/b:pull" }).toString(),
    });
    const body = (await res.body.json()) as { access_token: string };
    expect(res.statusCode).toBe(200);
    expect(body.access_token.split(".")).toHaveLength(3);
  });
});
