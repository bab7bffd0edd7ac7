// publish-image through a fault proxy in front of a real TLS + basic-auth registry: the copier layer's whole-blob
// PUT fails once with 503 (a streamed body the transport does not replay), then is refused with 405 (as registries
// without monolithic uploads answer). The publish goes on by itself and the image is whole, as skopeo reads it.
import { readFileSync } from "node:fs";
import { buildCopierLayer } from "../../copier/image/layer";
import { parsePlatform } from "../../copier/image/platform";
import { publishCopierImage } from "../../copier/image/publish";
import { ensureBundle } from "../helpers/bundle";
import { fixtureClient, pushMultiArch, sha256 } from "../helpers/images";
import { skopeoRaw } from "../helpers/skopeo";
import { proxiedRegistry, type ProxiedRegistry } from "./fault-fixture";

describe("publish-image against a registry that refuses and fails uploads", () => {
  let target: ProxiedRegistry;
  let bundle: Buffer;

  beforeAll(async () => {
    let file: string;
    [target, file] = await Promise.all([proxiedRegistry({ tls: true, auth: "basic" }), ensureBundle()]);
    bundle = readFileSync(file);
    await pushMultiArch(target.reg, "mirror/node", { format: "oci", seed: "faults-base", layers: [{ size: 32 * 1024, seed: "faults-rootfs" }], tag: "20" });
  });
  afterAll(async () => {
    await target?.stop();
  });

  it("retries the copier layer after a 503, uploads it as a chunk after a 405, and pushes a complete image", async () => {
    const layer = await buildCopierLayer(bundle);
    const layerPut = new RegExp(`/blobs/uploads/.*[?&]digest=${layer.digest.replace(":", "(:|%3A)")}`);
    target.proxy.addFault({ method: "PUT", path: layerPut, fault: { type: "status", status: 503 } });
    target.proxy.addFault({ method: "PUT", path: layerPut, fault: { type: "status", status: 405 } });
    const { ca, username, password } = target.repoConfig("x:y");
    const access = { username, password, ca, insecure: false };
    const warnings: string[] = [];
    const published = await publishCopierImage({
      target: `${target.proxy.host}/tools/images-copier:faults`,
      base: `${target.proxy.host}/mirror/node:20`,
      platforms: ["linux/amd64", "linux/arm64"].map(parsePlatform),
      bundle,
      version: "0.0.0-test",
      targetAccess: access,
      baseAccess: access,
      retry: { baseDelayMs: 20, maxDelayMs: 200 },
      warn: (line) => warnings.push(line),
    });

    const layerRequests = target.proxy.requests().filter((r) => layerPut.test(r.path) || (r.method === "PATCH" && r.contentRange === `0-${layer.blob.length - 1}`));
    expect(layerRequests.map((r) => [r.method, r.status])).toEqual([
      ["PUT", 503],
      ["PUT", 405],
      ["PATCH", 202],
      ["PUT", 201],
    ]);
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`blob ${layer.digest}: .*503.*; retry 1 of 5`)),
      expect.stringContaining(`refused a whole-blob upload`),
    ]);
    // The registry serves the tag under the digest the command reported, and the layer intact.
    expect(sha256(await skopeoRaw(target.reg, "tools/images-copier:faults"))).toBe(published.digest);
    const stored = await fixtureClient(target.reg).send("GET", "tools/images-copier", `/v2/tools/images-copier/blobs/${layer.digest}`);
    expect(sha256(stored.body)).toBe(layer.digest);
  });
});

