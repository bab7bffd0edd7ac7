// The parts publish-image builds before it pushes anything: the copier layer (reproducible whatever the clock),
// the edited image config, and the manifests in the base's media types.
import { gunzipSync } from "node:zlib";
import { extract, type Header } from "tar-stream";
import { copierImageConfig, LABELS } from "../../copier/image/image-config";
import { copierIndex, copierManifest } from "../../copier/image/image-manifest";
import { buildCopierLayer } from "../../copier/image/layer";
import { MEDIA, sha256 } from "../helpers/images";

const BUNDLE = Buffer.from("#!/usr/bin/env node\nconsole.log('copier');\n");
const DIFF_ID = `sha256:${"d1".repeat(32)}`;
const BUNDLE_DIGEST = sha256(BUNDLE);

async function tarEntries(tar: Buffer): Promise<Array<{ header: Header; content: Buffer }>> {
  const entries: Array<{ header: Header; content: Buffer }> = [];
  const reader = extract();
  const done = (async () => {
    for await (const entry of reader) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(Buffer.from(chunk as Uint8Array));
      entries.push({ header: entry.header, content: Buffer.concat(chunks) });
    }
  })();
  reader.end(tar);
  await done;
  return entries;
}

describe("the copier layer", () => {
  afterEach(() => jest.useRealTimers());

  it("holds the bundle at /opt/images-copier/images-copier.cjs, owned by 1000, with fixed modes and times", async () => {
    const layer = await buildCopierLayer(BUNDLE);
    const tar = gunzipSync(layer.blob);
    expect(layer.digest).toBe(sha256(layer.blob));
    expect(layer.diffId).toBe(sha256(tar));
    const entries = await tarEntries(tar);
    expect(entries.map(({ header: h }) => [h.name, h.type, h.mode, h.uid, h.gid, h.mtime?.getTime()])).toEqual([
      ["opt/", "directory", 0o755, 0, 0, 0],
      ["opt/images-copier/", "directory", 0o755, 1000, 1000, 0],
      ["opt/images-copier/images-copier.cjs", "file", 0o755, 1000, 1000, 0],
    ]);
    expect(entries[2].content).toEqual(BUNDLE);
  });

  it("has a gzip header without a time or a file name", async () => {
    const { blob } = await buildCopierLayer(BUNDLE);
    // magic, deflate, no flags, mtime 0, best compression, unix
    expect([...blob.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
  });

  it("is the same bytes at another time of day, and differs for another bundle", async () => {
    const now = await buildCopierLayer(BUNDLE);
    jest.useFakeTimers({ now: new Date("2031-05-05T12:34:56Z"), doNotFake: ["nextTick", "queueMicrotask", "setImmediate", "setTimeout", "setInterval"] });
    expect(new Date().getUTCFullYear()).toBe(2031);
    const later = await buildCopierLayer(BUNDLE);
    jest.useRealTimers();
    expect(later.digest).toBe(now.digest);
    expect((await buildCopierLayer(Buffer.concat([BUNDLE, Buffer.from("\n")]))).digest).not.toBe(now.digest);
  });
});

describe("the copier image config", () => {
  const base = {
    architecture: "arm64",
    variant: "v8",
    os: "linux",
    created: "2024-01-02T03:04:05Z",
    config: { Env: ["PATH=/usr/bin", "NODE_ENV=development", "HOME=/root", "YARN_VERSION=1"], Cmd: ["node"], WorkingDir: "/", Labels: null },
    rootfs: { type: "layers", diff_ids: [`sha256:${"aa".repeat(32)}`, `sha256:${"bb".repeat(32)}`] },
    history: [{ created: "2024-01-02T03:04:05Z", created_by: "ADD rootfs" }, { created_by: "RUN node" }],
    "os.features": ["x"],
  };
  const edit = (config: unknown, baseLayers = 2) =>
    JSON.parse(
      copierImageConfig({ base: Buffer.from(JSON.stringify(config)), baseLayers, diffId: DIFF_ID, version: "9.9.9", bundleDigest: BUNDLE_DIGEST, what: "base (linux/arm64/v8)" }).toString("utf8"),
    );

  it("sets user, labels, entrypoint and environment, appends the layer and its history, and keeps the rest", () => {
    const config = edit(base);
    expect(config.config).toEqual({
      Env: ["PATH=/usr/bin", "YARN_VERSION=1", "HOME=/tmp", "NODE_ENV=production"],
      Cmd: ["--help"],
      WorkingDir: "/",
      Labels: { [LABELS.version]: "9.9.9", [LABELS.bundleDigest]: BUNDLE_DIGEST },
      User: "1000",
      Entrypoint: ["node", "/opt/images-copier/images-copier.cjs"],
    });
    expect(config.rootfs.diff_ids).toEqual([...base.rootfs.diff_ids, DIFF_ID]);
    expect(config.history).toHaveLength(3);
    expect(config.history[2]).toMatchObject({ created: base.created, comment: "images-copier 9.9.9" });
    expect(config.history[2].created_by).toContain(BUNDLE_DIGEST);
    expect(config).toMatchObject({ architecture: "arm64", variant: "v8", os: "linux", created: base.created, "os.features": ["x"] });
  });

  it("adds no history to a base without one (it would no longer describe every layer)", () => {
    const { history: _history, ...withoutHistory } = base;
    expect(edit(withoutHistory).history).toBeUndefined();
  });

  it("refuses a config whose diff_ids do not match the manifest's layers, or that is not an image config", () => {
    expect(() => edit(base, 3)).toThrow("base (linux/arm64/v8): the image config lists 2 layer diff_ids, its manifest 3 layers");
    expect(() => edit({ ...base, rootfs: undefined })).toThrow(/base \(linux\/arm64\/v8\): unusable image config \(rootfs/);
    expect(() => copierImageConfig({ base: Buffer.from("{"), baseLayers: 0, diffId: DIFF_ID, version: "1", bundleDigest: BUNDLE_DIGEST, what: "b" })).toThrow(
      "b: the image config is not valid JSON",
    );
  });
});

describe("the copier image manifests", () => {
  const layer = { blob: Buffer.from("layer"), digest: sha256("layer") };
  const config = { bytes: Buffer.from("{}"), digest: sha256("{}") };
  const foreign = { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", size: 9, digest: `sha256:${"cc".repeat(32)}`, urls: ["https://x/y"] };
  const baseParts = (configType: string) => ({
    config: { mediaType: configType, size: 5, digest: `sha256:${"ee".repeat(32)}` },
    layers: [foreign, { mediaType: MEDIA.dockerLayer, size: 7, digest: `sha256:${"ff".repeat(32)}` }],
  });

  it("keep the base's layers (foreign ones too) and add the copier layer in the manifest's own family", () => {
    const docker = copierManifest(MEDIA.dockerManifest, baseParts(MEDIA.dockerConfig), config, layer);
    const json = JSON.parse(docker.bytes.toString("utf8"));
    expect(docker.digest).toBe(sha256(docker.bytes));
    expect(json).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.dockerConfig, size: 2, digest: config.digest },
      layers: [...baseParts(MEDIA.dockerConfig).layers, { mediaType: MEDIA.dockerLayer, size: 5, digest: layer.digest }],
    });
    const oci = JSON.parse(copierManifest(MEDIA.ociManifest, baseParts(MEDIA.ociConfig), config, layer).bytes.toString("utf8"));
    expect(oci.layers[2].mediaType).toBe(MEDIA.ociLayer);
    expect(oci.config.mediaType).toBe(MEDIA.ociConfig);
  });

  it("list the platform manifests under the base index's media type and platforms", () => {
    const amd64 = copierManifest(MEDIA.ociManifest, baseParts(MEDIA.ociConfig), config, layer);
    const platform = { os: "linux", architecture: "amd64", "os.version": "x" };
    const index = copierIndex(MEDIA.ociIndex, [{ manifest: amd64, platform }]);
    expect(JSON.parse(index.bytes.toString("utf8"))).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [{ mediaType: MEDIA.ociManifest, size: amd64.bytes.length, digest: amd64.digest, platform }],
    });
    expect(index.mediaType).toBe(MEDIA.ociIndex);
  });
});
