import { moduleRefusal, moduleSourceRepoConfig, upstreamSourceImage } from "../../components/copy/module-source";

const UPSTREAM = "registry.deckhouse.io/deckhouse/ee";
const IN_CLUSTER = "registry.d8-system.svc:5001/system/deckhouse";

describe("the source in a configurable registry mode", () => {
  it("the Deployment's tag or digest in imagesRepo; an image already there (a /dev build) as it is", () => {
    expect(upstreamSourceImage(`${IN_CLUSTER}:v1.75.3`, UPSTREAM)).toBe(`${UPSTREAM}:v1.75.3`);
    expect(upstreamSourceImage(`${IN_CLUSTER}@sha256:${"a".repeat(64)}`, `${UPSTREAM}/`)).toBe(`${UPSTREAM}@sha256:${"a".repeat(64)}`);
    expect(upstreamSourceImage(`${UPSTREAM}/dev:pr42`, UPSTREAM)).toBe(`${UPSTREAM}/dev:pr42`);
    expect(() => upstreamSourceImage(`${IN_CLUSTER}:v1`, "Not A/Repo")).toThrow(/^ModuleConfig deckhouse: registry imagesRepo "Not A\/Repo" is not a repository/);
  });

  it("license -> license-token; username/password; HTTP -> insecure; the CA", () => {
    expect(moduleSourceRepoConfig({ imagesRepo: UPSTREAM, license: "k:e:y" }, `${IN_CLUSTER}:v1.75.3`)).toEqual({ username: "license-token", password: "k:e:y", insecure: false, image: `${UPSTREAM}:v1.75.3` });
    expect(moduleSourceRepoConfig({ imagesRepo: "mirror:5000/d8", username: "u", password: "p", scheme: "HTTP", ca: "PEM" }, `${IN_CLUSTER}:v1.75.3`)).toEqual({ username: "u", password: "p", insecure: true, image: "mirror:5000/d8:v1.75.3", ca: "PEM" });
    expect(moduleSourceRepoConfig({ imagesRepo: UPSTREAM, scheme: "HTTPS" }, `${IN_CLUSTER}:v1.75.3`)).toEqual({ insecure: false, image: `${UPSTREAM}:v1.75.3` });
  });

  it("refusals in the copy stack's words: Local and Managed its own, the rest the classifier's with the copy's verb", () => {
    expect(moduleRefusal({ path: "refused", cause: "local", reason: "x" })).toMatch(/^images-copier: refusing to copy: ModuleConfig deckhouse sets registry mode Local: .*d8 mirror instead$/);
    expect(moduleRefusal({ path: "refused", cause: "managed", reason: "x" })).toMatch(/^images-copier: refusing to copy: ModuleConfig registry is in mode Managed/);
    expect(moduleRefusal({ path: "refused", cause: "no-images-repo", reason: "images-copier: refusing to switch registries: ModuleConfig deckhouse sets registry mode Direct without direct.imagesRepo; fix the ModuleConfig first" })).toBe(
      "images-copier: refusing to copy: ModuleConfig deckhouse sets registry mode Direct without direct.imagesRepo; fix the ModuleConfig first",
    );
    expect(moduleRefusal({ path: "legacy", why: "x" })).toBeUndefined();
    expect(moduleRefusal({ path: "module", mode: "Direct", section: { imagesRepo: UPSTREAM } })).toBeUndefined();
  });
});
