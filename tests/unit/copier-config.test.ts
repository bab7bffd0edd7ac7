import { ConfigError, distinctImageValues, parseImagesList, parseRepoConfig } from "../../copier/config";
import { planRelease } from "../../copier/plan";
import { formatReference } from "../../copier/reference";

const DIGEST = `sha256:${"c".repeat(64)}`;
const WERF = `${"a".repeat(56)}-1650502544870`;

describe("repo JSON validation", () => {
  it("accepts the Secret's shape, insecure as bool or string, and drops an empty ca", () => {
    const cfg = parseRepoConfig({ username: "u", password: 'p"w:x', insecure: "true", image: "reg.example/a/b:t", ca: "" }, "dest-repo.json");
    expect(cfg).toEqual({ username: "u", password: 'p"w:x', insecure: true, image: "reg.example/a/b:t" });
    expect(parseRepoConfig({ image: "reg.example/a:t" }, "x").insecure).toBe(false);
  });

  it("refuses a missing image, a broken reference or a bad CA, naming the file", () => {
    expect(() => parseRepoConfig({ username: "u" }, "dest-repo.json")).toThrow(/^dest-repo\.json: image/);
    expect(() => parseRepoConfig({ image: "Reg/UPPER:t" }, "dest-repo.json")).toThrow(/dest-repo\.json: .*invalid repository path/);
    expect(() => parseRepoConfig({ image: "reg.example/a:t", ca: "not a cert" }, "d8-repo.json")).toThrow(ConfigError);
    expect(() => parseRepoConfig({ image: "reg.example/a:t", insecure: "yes" }, "d8-repo.json")).toThrow(/insecure/);
  });
});

describe("image list", () => {
  const list = {
    common: { kubeRbacProxy: WERF, pause: DIGEST },
    nodeManager: { bashibleApiserver: WERF, other: "v1.2.3" },
  };

  it("keeps each distinct value once, in order", () => {
    expect(distinctImageValues(parseImagesList(list, "d8-images.json"))).toEqual([WERF, DIGEST, "v1.2.3"]);
  });

  it("refuses three levels, bad values and an empty list", () => {
    expect(() => parseImagesList({ common: { a: { b: "x" } } }, "d8-images.json")).toThrow(/d8-images\.json: common\.a/);
    // a value that is neither a tag nor a digest is named with its place and its value
    expect(() => parseImagesList({ common: { a: "bad tag!" } }, "d8-images.json")).toThrow(
      new ConfigError('d8-images.json: common.a: must be a tag or a sha256 digest, got "bad tag!"'),
    );
    expect(() => parseImagesList({ common: { a: "v1", b: "sha256:abc" } }, "d8-images.json")).toThrow(
      /^d8-images\.json: common\.b: must be a tag or a sha256 digest, got "sha256:abc"$/,
    );
    expect(() => parseImagesList({ common: { a: 42 } }, "d8-images.json")).toThrow(/^d8-images\.json: common\.a: must be a tag or a sha256 digest, got 42$/);
    expect(() => parseImagesList({ common: { a: "x".repeat(200) } }, "d8-images.json")).toThrow(/got "x{76}\.\.\.$/);
    expect(() => parseImagesList({ common: "v1" }, "d8-images.json")).toThrow(ConfigError);
    expect(() => parseImagesList({}, "d8-images.json")).toThrow(/empty/);
  });

  it("plans digests with @ and tags with :, from the module repository (trailing /dev stripped) plus the renamed Deckhouse image", () => {
    const jobs = planRelease("registry.deckhouse.io/deckhouse/ee/dev:v1.46.3", "my.reg:5000/mirror/deckhouse:rock-solid", parseImagesList(list, "x"));
    expect(jobs.map((j) => [formatReference(j.source), formatReference(j.target)])).toEqual([
      [`registry.deckhouse.io/deckhouse/ee:${WERF}`, `my.reg:5000/mirror/deckhouse:${WERF}`],
      [`registry.deckhouse.io/deckhouse/ee@${DIGEST}`, `my.reg:5000/mirror/deckhouse@${DIGEST}`],
      ["registry.deckhouse.io/deckhouse/ee:v1.2.3", "my.reg:5000/mirror/deckhouse:v1.2.3"],
      ["registry.deckhouse.io/deckhouse/ee/dev:v1.46.3", "my.reg:5000/mirror/deckhouse:rock-solid"],
    ]);
  });

  it("refuses a target image without a tag", () => {
    expect(() => planRelease("r.example/d/ee:v1", "my.reg/mirror/deckhouse", { a: { b: "v1" } })).toThrow(/has no tag; a tag is mandatory/);
  });
});
