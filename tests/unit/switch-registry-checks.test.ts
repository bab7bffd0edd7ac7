// The verdict on the target registry, the same for the check run here and for the check Job's report.
import { registryRefusal, type RegistryExpectations } from "../../components/switch/registry-checks";

const NEW = "registry.example.com/client/deckhouse";
const TARGET = `${NEW}:rock-solid-1.46`;
const COPIED = `sha256:${"a".repeat(64)}`;
const bearer = { registry: "registry.example.com", ok: true, status: 401, schemes: ["bearer"], message: "asks for Bearer tokens" };
const expect_: RegistryExpectations = { references: [TARGET, `${NEW}:abc`], targetImage: TARGET, sourceDigest: COPIED };
const present = (reference: string, digest = `sha256:${"1".repeat(64)}`) => ({ reference, exists: true, digest });

describe("registryRefusal", () => {
  it("passes when the registry asks for Bearer tokens, every image exists and the target image is the copied digest", () => {
    expect(registryRefusal(bearer, [present(TARGET, COPIED), present(`${NEW}:abc`)], expect_)).toBeUndefined();
  });

  it("refuses a registry without Bearer token auth with the checker's reason", () => {
    const basic = { ...bearer, ok: false, schemes: ["basic"], message: 'registry registry.example.com answers GET /v2/ with 401 and only "basic" authentication; enable token auth' };
    expect(registryRefusal(basic, [present(TARGET, COPIED)], expect_)).toBe(`images-copier: refusing to switch: ${basic.message}`);
    expect(registryRefusal(undefined, [], expect_)).toMatch(/authentication was not checked/);
  });

  it("names each missing image, and an image the checker never answered for", () => {
    expect(registryRefusal(bearer, [present(TARGET, COPIED), { reference: `${NEW}:abc`, exists: false, error: "manifest unknown" }], expect_)).toBe(
      `images-copier: refusing to switch: 1 of 2 image(s) are not in the target registry: ${NEW}:abc (manifest unknown)`,
    );
    expect(registryRefusal(bearer, [present(TARGET, COPIED)], expect_)).toMatch(/:abc \(not checked\)$/);
  });

  it("says what to do when the release-channel image is missing with updates kept", () => {
    const keep = { ...expect_, references: [...expect_.references, `${NEW}/release-channel:stable`], releaseChannelImage: `${NEW}/release-channel:stable` };
    expect(registryRefusal(bearer, [present(TARGET, COPIED), present(`${NEW}:abc`)], keep)).toMatch(/release-channel:stable is needed because updates are kept: copy with copyUpdateImages true, or set updates to disable$/);
  });

  it("refuses a target image that is another release than the copied one (a tag pushed over)", () => {
    expect(registryRefusal(bearer, [present(TARGET, `sha256:${"e".repeat(64)}`), present(`${NEW}:abc`)], expect_)).toMatch(
      new RegExp(`${TARGET.replace(/\./g, "\\.")} in the target registry is sha256:e{64}, not the copied release ${COPIED}`),
    );
  });
});
