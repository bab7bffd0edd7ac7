// The release gate: the Deckhouse running now must be the one the copy copied, by image reference and by the
// digest the running pod reports.
import { digestOfImageID, requireCopiedRelease } from "../../components/switch/release";
import type { VerifiedCopy } from "../../components/switch/copy-check";

const SOURCE = "registry.deckhouse.io/deckhouse/ee:v1.46.3";
const TARGET = "registry.example.com/client/deckhouse:rock-solid-1.46";
const COPIED = `sha256:${"a".repeat(64)}`;
const NEWER = `sha256:${"e".repeat(64)}`;
const record = {
  status: "succeeded",
  verified: true,
  targetImage: TARGET,
  runId: "3",
  sourceImage: SOURCE,
  sourceDigest: COPIED,
  sourceRepository: "registry.deckhouse.io/deckhouse/ee",
  imagesDigest: `sha256:${"b".repeat(64)}`,
} as VerifiedCopy;

describe("digestOfImageID", () => {
  it("reads the digest from the forms container runtimes report", () => {
    expect(digestOfImageID(`docker-pullable://registry.deckhouse.io/deckhouse/ee@${COPIED}`)).toBe(COPIED);
    expect(digestOfImageID(`registry.deckhouse.io/deckhouse/ee@${COPIED}`)).toBe(COPIED);
    expect(digestOfImageID(`127.0.0.1:5000/d8/ee@${COPIED}`)).toBe(COPIED);
  });
  it("finds none in a runtime's local image id", () => {
    expect(digestOfImageID(COPIED)).toBeUndefined();
    expect(digestOfImageID(`docker://${COPIED}`)).toBeUndefined();
    expect(digestOfImageID("")).toBeUndefined();
  });
});

describe("requireCopiedRelease", () => {
  const running = (imageID: string) => [{ pod: "deckhouse-5d9f7-abcde", imageID }];

  it("passes when the Deployment runs the copied image and its pod the copied digest", () => {
    expect(() => requireCopiedRelease(record, SOURCE, TARGET, running(`docker-pullable://registry.deckhouse.io/deckhouse/ee@${COPIED}`))).not.toThrow();
  });

  it("refuses a Deckhouse that moved to another release, naming both and what to do", () => {
    const newer = "registry.deckhouse.io/deckhouse/ee:v1.47.0";
    expect(() => requireCopiedRelease(record, newer, TARGET, running(`registry.deckhouse.io/deckhouse/ee@${NEWER}`))).toThrow(
      `images-copier: refusing to switch: Deckhouse now runs "${newer}", but the copy stack copied "${SOURCE}" (${COPIED}); Deckhouse changed its release since the copy`,
    );
    expect(() => requireCopiedRelease(record, newer, TARGET, [])).toThrow(/change runId/);
    expect(() => requireCopiedRelease({ ...record, deckhouseVersion: "v1.46.3" }, newer, TARGET, [])).toThrow(`the copy stack copied v1.46.3, "${SOURCE}" (${COPIED})`);
  });

  it("refuses a pod that runs another digest under the same tag (a channel tag moved on)", () => {
    const channel = { ...record, sourceImage: "registry.deckhouse.io/deckhouse/ee:rock-solid" };
    expect(() => requireCopiedRelease(channel, channel.sourceImage, TARGET, [...running(`registry.deckhouse.io/deckhouse/ee@${COPIED}`), { pod: "deckhouse-new", imageID: `registry.deckhouse.io/deckhouse/ee@${NEWER}` }])).toThrow(
      `pod d8-system/deckhouse-new runs Deckhouse ${NEWER}, but the copy stack copied "registry.deckhouse.io/deckhouse/ee:rock-solid" (${COPIED})`,
    );
  });

  it("refuses when no pod reports what it runs, or reports a local image id only", () => {
    expect(() => requireCopiedRelease(record, SOURCE, TARGET, [{ pod: "deckhouse-pending" }])).toThrow(/no deckhouse pod reports its image digest/);
    expect(() => requireCopiedRelease(record, SOURCE, TARGET, running(COPIED))).toThrow(/cannot tell which release pod d8-system\/deckhouse-5d9f7-abcde runs: its imageID "sha256:a+" names no registry digest/);
  });

  it("accepts an interrupted switch: the Deployment already on the target image, its pod still starting", () => {
    expect(() => requireCopiedRelease(record, TARGET, TARGET, [{ pod: "deckhouse-new" }])).not.toThrow();
    expect(() => requireCopiedRelease(record, TARGET, TARGET, running(`${TARGET.split(":")[0]}@${COPIED}`))).not.toThrow();
    expect(() => requireCopiedRelease(record, TARGET, TARGET, running(`${TARGET.split(":")[0]}@${NEWER}`))).toThrow(/runs Deckhouse sha256:e+/);
  });

  it("accepts the target under the original tag (Deckhouse re-rendered it) only when the copy pushed that tag and the pods run the copied digest", () => {
    const original = "registry.example.com/client/deckhouse:v1.46.3";
    const withTag = { ...record, originalTagImage: original };
    expect(() => requireCopiedRelease(withTag, original, TARGET, running(`registry.example.com/client/deckhouse@${COPIED}`))).not.toThrow();
    expect(() => requireCopiedRelease(withTag, original, TARGET, running(`registry.example.com/client/deckhouse@${NEWER}`))).toThrow(
      /pod d8-system\/deckhouse-5d9f7-abcde runs Deckhouse sha256:e+, but the copy stack copied/,
    );
    // an older copy record never pushed that tag: the image is not the copied one
    expect(() => requireCopiedRelease(record, original, TARGET, running(`registry.example.com/client/deckhouse@${COPIED}`))).toThrow(/Deckhouse now runs "registry.example.com\/client\/deckhouse:v1.46.3"/);
  });
});
