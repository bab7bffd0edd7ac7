// The copy record gate: a successful, verified copy to the same target, with the fields that name the release.
import { requireSameRegistryPath, requireVerifiedCopy, SwitchRefusedError } from "../../components/switch/copy-check";
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

describe("requireSameRegistryPath: the cluster keeps its registry the way the copy read it", () => {
  const targetRepo = "registry.example.com/client/deckhouse";
  const direct = (imagesRepo: string) => ({ path: "module" as const, mode: "Direct" as const, section: { imagesRepo } });
  const unmanaged = (imagesRepo: string) => ({ path: "module" as const, mode: "Unmanaged" as const, section: { imagesRepo } });
  const record = (registryPath?: "legacy" | "Direct" | "Unmanaged") => requireVerifiedCopy({ ...good, ...(registryPath ? { registryPath } : {}) }, TARGET, "c");

  it("passes the same path, also the module-enabled legacy mode and a record from before the field (a legacy read)", () => {
    expect(() => requireSameRegistryPath(record("legacy"), { path: "legacy", why: "x" }, targetRepo)).not.toThrow();
    expect(() => requireSameRegistryPath(record(), { path: "module-legacy" }, targetRepo)).not.toThrow();
    expect(() => requireSameRegistryPath(record("Direct"), direct("registry.deckhouse.io/deckhouse/ee"), targetRepo)).not.toThrow();
    expect(() => requireSameRegistryPath(record("Direct"), direct(targetRepo), targetRepo)).not.toThrow();
  });

  it("refuses a path changed since the copy, in one line naming both", () => {
    expect(() => requireSameRegistryPath(record("legacy"), direct("registry.deckhouse.io/deckhouse/ee"), targetRepo)).toThrow(
      "images-copier: refusing to switch: the copy read the vendor's registry from the legacy Secret d8-system/deckhouse-registry, but the cluster now keeps it in registry mode Direct of ModuleConfig deckhouse; the copied source may not be the cluster's registry any more; run the copy stack again",
    );
    expect(() => requireSameRegistryPath(record("Direct"), { path: "legacy", why: "x" }, targetRepo)).toThrow(/from registry mode Direct of ModuleConfig deckhouse, but the cluster now keeps it in the legacy Secret/);
  });

  it("allows the documented migration legacy -> configurable Unmanaged on the copied repository or the target, nothing else", () => {
    expect(() => requireSameRegistryPath(record("legacy"), unmanaged("registry.deckhouse.io/deckhouse/ee/"), targetRepo)).not.toThrow();
    expect(() => requireSameRegistryPath(record("legacy"), unmanaged(targetRepo), targetRepo)).not.toThrow();
    expect(() => requireSameRegistryPath(record("legacy"), unmanaged("mirror.example/other"), targetRepo)).toThrow(/now keeps it in registry mode Unmanaged/);
  });

  it("leaves a refused path to the gate", () => {
    expect(() => requireSameRegistryPath(record("Direct"), { path: "refused", cause: "local", reason: "Local" }, targetRepo)).not.toThrow();
  });
});
