import { MEDIA_TYPES, parseManifest } from "../../copier/manifest";

const d = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("manifest parsing", () => {
  it("finds config and layers of a Docker v2 schema 2 manifest", () => {
    const m = parseManifest(
      json({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerManifest,
        config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: d(1), size: 10 },
        layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: d(2), size: 20 }],
      }),
      MEDIA_TYPES.dockerManifest,
      "img",
    );
    expect(m.kind).toBe("image");
    expect(m.mediaType).toBe(MEDIA_TYPES.dockerManifest);
    expect(m.kind === "image" && m.blobs.map((b) => b.digest)).toEqual([d(1), d(2)]);
  });

  it("takes the media type from Content-Type (parameters ignored) when the body has none", () => {
    const body = json({ schemaVersion: 2, config: { digest: d(1), size: 1 }, layers: [] });
    expect(parseManifest(body, `${MEDIA_TYPES.ociManifest}; charset=utf-8`, "img").mediaType).toBe(MEDIA_TYPES.ociManifest);
  });

  it("tells an OCI index without mediaType by its shape", () => {
    const m = parseManifest(json({ schemaVersion: 2, manifests: [{ digest: d(3), size: 5, platform: { os: "linux", architecture: "arm64" } }] }), "application/json", "img");
    expect(m.kind).toBe("index");
    expect(m.mediaType).toBe(MEDIA_TYPES.ociIndex);
    expect(m.kind === "index" && m.children.map((c) => c.digest)).toEqual([d(3)]);
  });

  it("lists every platform of a Docker manifest list", () => {
    const m = parseManifest(
      json({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerList,
        manifests: [
          { mediaType: MEDIA_TYPES.dockerManifest, digest: d(4), size: 1, platform: { os: "linux", architecture: "amd64" } },
          { mediaType: MEDIA_TYPES.dockerManifest, digest: d(5), size: 1, platform: { os: "linux", architecture: "arm64" } },
        ],
      }),
      MEDIA_TYPES.dockerList,
      "img",
    );
    expect(m.kind === "index" && m.children.map((c) => c.digest)).toEqual([d(4), d(5)]);
  });

  it("refuses schema 1 with a clear message naming the image", () => {
    const schema1 = json({ schemaVersion: 1, name: "x", tag: "y", fsLayers: [] });
    expect(() => parseManifest(schema1, MEDIA_TYPES.dockerSchema1Signed, "reg/x:y")).toThrow(/reg\/x:y: Docker schema 1 manifests are not supported/);
    expect(() => parseManifest(schema1, "application/json", "reg/x:y")).toThrow(/schema 1/);
  });

  it("refuses malformed manifests and non-JSON bodies", () => {
    expect(() => parseManifest(Buffer.from("<html>"), MEDIA_TYPES.ociManifest, "img")).toThrow(/not valid JSON/);
    expect(() =>
      parseManifest(json({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { digest: "nope", size: 1 }, layers: [] }), undefined, "img"),
    ).toThrow(/malformed image manifest/);
    expect(() => parseManifest(json({ hello: 1 }), "application/json", "img")).toThrow(/unsupported manifest media type/);
  });
});
