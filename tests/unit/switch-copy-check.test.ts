import { requireVerifiedCopy, SwitchRefusedError } from "../../components/switch/copy-check";

const TARGET = "registry.example.com/client/deckhouse:rs";
const good = { status: "succeeded", targetImage: TARGET, verified: true, images: 3, copied: 3, skipped: 0, bytes: 10, durationMs: 5, runId: "1" };

describe("requireVerifiedCopy", () => {
  it("accepts a succeeded, verified copy to the same target", () => {
    expect(requireVerifiedCopy(good, TARGET, "org/images-copier/copy").copied).toBe(3);
  });
  it("refuses when the copy stack has no copy output", () => {
    expect(() => requireVerifiedCopy(undefined, TARGET, "org/p/copy")).toThrow(/copy stack "org\/p\/copy" has no "copy" output/);
  });
  it("refuses a failed copy", () => {
    expect(() => requireVerifiedCopy({ ...good, status: "failed" }, TARGET, "c")).toThrow(SwitchRefusedError);
    expect(() => requireVerifiedCopy({ ...good, status: "failed" }, TARGET, "c")).toThrow(/status "failed"/);
  });
  it("refuses an unverified copy", () => {
    expect(() => requireVerifiedCopy({ ...good, verified: false }, TARGET, "c")).toThrow(/not verified/);
  });
  it("refuses a copy to another target", () => {
    expect(() => requireVerifiedCopy({ ...good, targetImage: "other.example.com/d:rs" }, TARGET, "c")).toThrow(/copied to "other.example.com\/d:rs", but this stack's targetImage is/);
  });
  it("refuses a malformed output", () => {
    expect(() => requireVerifiedCopy({ status: "succeeded" }, TARGET, "c")).toThrow(/malformed "copy" output \(targetImage/);
  });
});
