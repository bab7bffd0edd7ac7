// The test harness itself: every registry flavour starts, images pushed over HTTP are what skopeo sees,
// and a wrong password is refused.
import { startRegistry, type RegistryOptions, type TestRegistry } from "../helpers/registry";
import { pushImage, pushMultiArch, seedRelease, MEDIA, layerDigest } from "../helpers/images";
import { request } from "undici";
import { TOKEN_SERVICE } from "../helpers/token-server";
import { skopeoCopy, skopeoDigestOrAbsent, skopeoManifestDigest, skopeoRaw } from "../helpers/skopeo";
import { targetRef, verifyCopiedRelease } from "../helpers/copy-fixture";

const flavours: Array<[string, RegistryOptions]> = [
  ["plain http, no auth", { tls: false, auth: "none" }],
  ["TLS + htpasswd", { tls: true, auth: "basic", password: 'p"ss:w:rd' }],
  ["TLS + token", { tls: true, auth: "token" }],
  ["plain http + token", { tls: false, auth: "token" }],
];

describe.each(flavours)("registry flavour %s", (_name, options) => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry(options);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("serves an image pushed by tag and by digest with the digest skopeo computes", async () => {
    const layers = [{ size: 100_000, seed: "harness-a" }];
    const tagged = await pushImage(reg, "harness/app", { format: "docker", seed: "a", layers }, "v1");
    const byDigest = await pushImage(reg, "harness/app", { format: "oci", seed: "b", layers });
    expect(tagged.digest).not.toEqual(byDigest.digest);
    expect(await skopeoManifestDigest(reg, "harness/app:v1")).toEqual(tagged.digest);
    expect(await skopeoManifestDigest(reg, `harness/app@${byDigest.digest}`)).toEqual(byDigest.digest);
    const raw = JSON.parse((await skopeoRaw(reg, `harness/app@${byDigest.digest}`)).toString("utf8"));
    expect(raw.mediaType).toEqual(MEDIA.ociManifest);
    expect(raw.layers[0].digest).toEqual(layerDigest(layers[0]));
  });

  if (options.auth !== "none") {
    it("refuses a wrong password", async () => {
      const wrong = { ...reg, password: "wrong-password" } as TestRegistry;
      wrong.skopeoFlags = () => reg.skopeoFlags().map((f) => (f.startsWith("--creds=") ? `--creds=${reg.username}:nope` : f));
      await expect(skopeoManifestDigest(wrong, "harness/app:v1")).rejects.toThrow(/unauthorized|authentication required|401|invalid username\/password/i);
      // a negative check cannot pass because skopeo could not log in
      await expect(skopeoDigestOrAbsent(wrong, "harness/app:no-such-tag")).rejects.toThrow(/not an absent manifest/);
    });
  }

  it("tells an absent tag, digest or repository from a registry skopeo cannot reach", async () => {
    await pushImage(reg, "harness/present", { format: "docker", seed: "present", layers: [{ size: 64, seed: "present" }] }, "v1");
    expect(await skopeoDigestOrAbsent(reg, "harness/present:v1")).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await skopeoDigestOrAbsent(reg, "harness/present:no-such-tag")).toBeUndefined();
    expect(await skopeoDigestOrAbsent(reg, `harness/present@sha256:${"0".repeat(64)}`)).toBeUndefined();
    expect(await skopeoDigestOrAbsent(reg, "harness/no-such-repository:v1")).toBeUndefined();
    const gone = { ...reg, ref: (r: string) => `127.0.0.1:1/${r}` } as TestRegistry;
    await expect(skopeoDigestOrAbsent(gone, "harness/present:v1")).rejects.toThrow(/not an absent manifest.*connection refused/);
  });
});

describe("fixtures", () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true, auth: "token", tokenTtlSeconds: 120 });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("pushes a multi-arch OCI index whose children skopeo can read", async () => {
    const index = await pushMultiArch(reg, "harness/multi", { format: "oci", seed: "m", layers: [{ size: 2048, seed: "m-base" }], tag: "multi" });
    expect(await skopeoManifestDigest(reg, "harness/multi:multi")).toEqual(index.digest);
    for (const child of index.children ?? []) {
      expect(await skopeoManifestDigest(reg, `harness/multi@${child.digest}`)).toEqual(child.digest);
    }
    expect(index.children?.map((c) => c.platform?.architecture)).toEqual(["amd64", "arm64"]);
  });

  it("seeds a Deckhouse-like release in one repository", async () => {
    const release = await seedRelease(reg, "deckhouse/ee", { tagged: 3, digestOnly: 2, multiArch: 2 });
    const values = Object.values(release.images).flatMap((m) => Object.values(m));
    const distinct = new Set(values);
    expect(values.length).toBeGreaterThan(distinct.size); // one value under two keys
    expect(distinct.size).toEqual(release.entries.length);
    expect([...distinct].some((v) => /^[0-9a-f]{56}-[0-9]{13}$/.test(v))).toBe(true);
    expect([...distinct].some((v) => v.startsWith("sha256:"))).toBe(true);
    expect(new Set(release.entries.map((e) => e.kind))).toEqual(new Set(["docker", "oci", "docker-list", "oci-index"]));
    expect(release.references).toContain(release.deckhouseImage);
    for (const entry of release.entries) {
      expect(await skopeoManifestDigest(reg, entry.reference)).toEqual(entry.digest);
    }
    expect(await skopeoManifestDigest(reg, release.deckhouseImage)).toEqual(release.deckhouseDigest);
    expect(reg.tokenServer?.issued()).toBeGreaterThan(0);
  });

  it("verifyCopiedRelease accepts a complete copy made by skopeo and names what is missing", async () => {
    const target = await startRegistry({ tls: true, auth: "basic", password: 'v"er:ify' });
    try {
      const release = await seedRelease(reg, "deckhouse/fe", { tagged: 2, digestOnly: 1, multiArch: 2, seed: "verify" });
      const [missing, ...rest] = release.entries;
      for (const entry of rest) await skopeoCopy(reg, entry.reference, target, targetRef("mirror/d8", entry.value));
      await skopeoCopy(reg, release.deckhouseImage, target, "mirror/d8:new-tag");
      const partial = await verifyCopiedRelease(target, "mirror/d8", "mirror/d8:new-tag", release);
      expect(partial.problems).toEqual([{ reference: targetRef("mirror/d8", missing.value), expected: missing.digest, actual: undefined }]);
      await skopeoCopy(reg, missing.reference, target, targetRef("mirror/d8", missing.value));
      const complete = await verifyCopiedRelease(target, "mirror/d8", "mirror/d8:new-tag", release);
      expect(complete.problems).toEqual([]);
      // entries + 2 children for each of the two indexes + the deckhouse image
      expect(complete.verified).toBe(release.entries.length + 4 + 1);
    } finally {
      await target.stop();
    }
  });
});

describe("expiring tokens", () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: "token", tokenTtlSeconds: 3, tokenExactExpiry: true });
  });
  afterAll(() => reg?.stop());

  it("with tokenExactExpiry the registry refuses a token once its lifetime is over", async () => {
    const basic = `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString("base64")}`;
    const res = await request(`${reg.tokenServer?.realm}?service=${TOKEN_SERVICE}&scope=repository:a/b:pull`, { headers: { authorization: basic } });
    const { token, expires_in } = (await res.body.json()) as { token: string; expires_in: number };
    expect(expires_in).toBe(3);
    const tags = async () => {
      const r = await request(`${reg.url}/v2/a/b/tags/list`, { headers: { authorization: `Bearer ${token}` } });
      await r.body.dump();
      return r.statusCode;
    };
    expect(await tags()).toBe(404); // accepted (the repository does not exist)
    await new Promise((r) => setTimeout(r, 4500));
    expect(await tags()).toBe(401);
  });
});
