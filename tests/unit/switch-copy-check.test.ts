// The copy record gate: a successful, verified copy to the same target, with the fields that name the release.
import { requireVerifiedCopy, SwitchRefusedError } from "../../components/switch/copy-check";
import { RELEASE_FIELDS } from "../../components/copy-record";

const TARGET = "registry.example.com/client/deckhouse:rs";
const good = {
  status: "succeeded",
  targetImage: TARGET,
  verified: true,
  runId: "1",
  sourceImage: "registry.deckhouse.io/deckhouse/ee:v1.46.3",
  sourceDigest: `sha256:${"a".repeat(64)}`,
  sourceRepository: "registry.deckhouse.io/deckhouse/ee",
  imagesDigest: `sha256:${"b".repeat(64)}`,
  updateImages: false,
  images: 3,
  copied: 3,
  skipped: 0,
  bytes: 10,
  durationMs: 5,
};

describe("requireVerifiedCopy", () => {
  it("accepts a succeeded, verified copy to the same target that names its release", () => {
    expect(requireVerifiedCopy(good, TARGET, "org/images-copier/copy")).toMatchObject({ sourceDigest: good.sourceDigest, copied: 3 });
  });
  it("refuses when the copy stack has no copy output", () => {
    expect(() => requireVerifiedCopy(undefined, TARGET, "org/p/copy")).toThrow(/copy stack "org\/p\/copy" has no "copy" output/);
  });
  it("refuses a failed copy and says to run it again", () => {
    expect(() => requireVerifiedCopy({ ...good, status: "failed" }, TARGET, "c")).toThrow(SwitchRefusedError);
    expect(() => requireVerifiedCopy({ ...good, status: "failed" }, TARGET, "c")).toThrow(/status "failed".*change runId/);
  });
  it("refuses an unverified copy", () => {
    expect(() => requireVerifiedCopy({ ...good, verified: false }, TARGET, "c")).toThrow(/not verified/);
  });
  it("refuses a copy to another target", () => {
    expect(() => requireVerifiedCopy({ ...good, targetImage: "other.example.com/d:rs" }, TARGET, "c")).toThrow(/copied to "other.example.com\/d:rs", but this stack's targetImage is/);
  });
  it("refuses a malformed output, naming the field", () => {
    expect(() => requireVerifiedCopy({ status: "succeeded" }, TARGET, "c")).toThrow(/malformed "copy" output \(verified/);
    expect(() => requireVerifiedCopy({ ...good, sourceDigest: "sha256:short" }, TARGET, "c")).toThrow(/malformed "copy" output \(sourceDigest: must be sha256/);
  });
  it.each(RELEASE_FIELDS.map((field) => [field]))("refuses an older copy stack's record without %s, with the advice to copy again", (field) => {
    const older: Record<string, unknown> = { ...good };
    delete older[field];
    expect(() => requireVerifiedCopy(older, TARGET, "c")).toThrow(new RegExp(`comes from an older copy stack: its "copy" output lacks ${field}.*change runId`));
  });
  it("refuses the record an older copy stack exported (status, target, verified and counts only)", () => {
    const { sourceImage: _a, sourceDigest: _b, sourceRepository: _c, imagesDigest: _d, updateImages: _e, ...older } = good;
    expect(() => requireVerifiedCopy(older, TARGET, "c")).toThrow("lacks sourceImage, sourceDigest, sourceRepository, imagesDigest");
  });
});
