// inspectCopierImage against a real registry (distribution 2.8, TLS with the test CA, basic auth): the digest a tag
// resolves to (as skopeo sees it), publish-image's label read from every platform's config, attestation-like index
// entries left out, and the failures the copy stack turns into one line (a missing tag or repository, a wrong password).
import { ImageNotFoundError, inspectCopierImage } from "../../copier";
import { pushImage, pushIndex, type PushedManifest } from "../helpers/images";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { skopeoManifestDigest } from "../helpers/skopeo";

const PASSWORD = 'insp"ect:pw';
const REPO = "tools/images-copier";
const BUNDLE_DIGEST = `sha256:${"b".repeat(64)}`;
const LABELS = { "io.deckhouse.images-copier.bundle-digest": BUNDLE_DIGEST, "io.deckhouse.images-copier.version": "0.1.0" };

let reg: TestRegistry;
beforeAll(async () => {
  reg = await startRegistry({ tls: true, auth: "basic", username: "robot", password: PASSWORD });
});
afterAll(() => reg?.stop());

const access = (password = PASSWORD) => ({ username: "robot", password, insecure: false, ca: reg.caPem });
const layers = [{ size: 2048, seed: "inspect-base" }];

/** An OCI index of amd64 and arm64 (labelled as given) and an unlabelled unknown/unknown entry, like buildx's attestations. */
async function index(tag: string, labels: { amd64: Record<string, string>; arm64: Record<string, string> }): Promise<PushedManifest> {
  const children = [
    await pushImage(reg, REPO, { format: "oci", seed: `${tag}-amd64`, layers, platform: { os: "linux", architecture: "amd64" }, config: { config: { Labels: labels.amd64 } } }),
    await pushImage(reg, REPO, { format: "oci", seed: `${tag}-arm64`, layers, platform: { os: "linux", architecture: "arm64", variant: "v8" }, config: { config: { Labels: labels.arm64 } } }),
    await pushImage(reg, REPO, { format: "oci", seed: `${tag}-attestation`, layers, platform: { os: "unknown", architecture: "unknown" } }),
  ];
  return pushIndex(reg, REPO, "oci", children, tag);
}

test("a tag resolves to the digest skopeo sees; publish-image's label on every platform means the image holds the copier", async () => {
  const pushed = await index("0.1.0", { amd64: LABELS, arm64: LABELS });
  const inspected = await inspectCopierImage(reg.ref(`${REPO}:0.1.0`), access());
  expect(inspected.digest).toBe(await skopeoManifestDigest(reg, `${REPO}:0.1.0`));
  expect(inspected.digest).toBe(pushed.digest);
  expect(inspected.pinned).toBe(reg.ref(`${REPO}@${pushed.digest}`));
  expect(inspected.platforms.map((p) => [p.platform, p.digest])).toEqual([
    ["linux/amd64", pushed.children![0].digest],
    ["linux/arm64/v8", pushed.children![1].digest],
  ]);
  expect(inspected.copier).toEqual({ bundleDigest: BUNDLE_DIGEST, version: "0.1.0" });

  // by digest: the same image, pinned to itself
  expect((await inspectCopierImage(reg.ref(`${REPO}@${pushed.digest}`), access())).pinned).toBe(inspected.pinned);
});

test("a platform without the label, or a single unlabelled manifest: not an image that holds the copier", async () => {
  await index("partial", { amd64: LABELS, arm64: {} });
  expect((await inspectCopierImage(reg.ref(`${REPO}:partial`), access())).copier).toBeUndefined();

  const single = await pushImage(reg, "mirror/node", { format: "docker", seed: "plain-node", layers }, "20");
  const inspected = await inspectCopierImage(reg.ref("mirror/node:20"), access());
  expect(inspected).toMatchObject({ digest: single.digest, platforms: [{ platform: "linux/amd64", digest: single.digest }] });
  expect(inspected.copier).toBeUndefined();
});

test("a missing tag or repository is ImageNotFoundError; a wrong password is another error, without the password", async () => {
  await expect(inspectCopierImage(reg.ref(`${REPO}:9.9.9`), access())).rejects.toThrow(ImageNotFoundError);
  await expect(inspectCopierImage(reg.ref(`${REPO}:9.9.9`), access())).rejects.toThrow(/the registry has no such image \(MANIFEST_UNKNOWN\)$/);
  await expect(inspectCopierImage(reg.ref("tools/nothing-here:1"), access())).rejects.toThrow(ImageNotFoundError);

  const wrong = 'wrong"pass:word';
  const error = await inspectCopierImage(reg.ref(`${REPO}:0.1.0`), access(wrong)).then(() => undefined, (e: Error) => e);
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(ImageNotFoundError);
  expect(error?.message).toMatch(/401/);
  expect(error?.message).not.toContain(wrong);
});
