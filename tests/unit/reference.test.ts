import {
  formatReference,
  moduleRepository,
  parseImageReference,
  parseTaggedReference,
  referenceInRepository,
  registryEndpoint,
} from "../../copier/reference";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("image references", () => {
  it("parses host:port, nested path and tag", () => {
    expect(parseImageReference("127.0.0.1:5000/deckhouse/ee:v1.46.3")).toEqual({
      registry: "127.0.0.1:5000",
      repository: "deckhouse/ee",
      tag: "v1.46.3",
      digest: undefined,
    });
  });

  it("parses a digest and prints it with @", () => {
    const ref = parseImageReference(`registry.deckhouse.io/deckhouse/ee@${DIGEST}`);
    expect(ref.digest).toBe(DIGEST);
    expect(ref.tag).toBeUndefined();
    expect(formatReference(ref)).toBe(`registry.deckhouse.io/deckhouse/ee@${DIGEST}`);
  });

  it("defaults a bare name to Docker Hub's library", () => {
    expect(parseImageReference("node:20")).toMatchObject({ registry: "docker.io", repository: "library/node", tag: "20" });
  });

  it("sends Docker Hub's requests to registry-1.docker.io and every other registry's to itself", () => {
    expect(registryEndpoint(parseImageReference("node:20-bookworm-slim").registry)).toBe("registry-1.docker.io");
    expect(registryEndpoint("127.0.0.1:5000")).toBe("127.0.0.1:5000");
    expect(registryEndpoint("registry.example.com")).toBe("registry.example.com");
  });

  it("rejects upper-case paths, bad tags and bad digests with the input named", () => {
    expect(() => parseImageReference("registry.io/Deckhouse/ee:1")).toThrow(/"registry.io\/Deckhouse\/ee:1".*repository path/);
    expect(() => parseImageReference("registry.io/deckhouse/ee:-bad")).toThrow(/invalid tag "-bad"/);
    expect(() => parseImageReference("registry.io/deckhouse/ee@sha256:xyz")).toThrow(/invalid digest/);
  });

  it("requires a tag on a target image", () => {
    expect(() => parseTaggedReference("client.registry/repo/deckhouse", "targetImage")).toThrow(/targetImage "client.registry\/repo\/deckhouse" has no tag; a tag is mandatory/);
    expect(parseTaggedReference("client.registry/repo/deckhouse:test").tag).toBe("test");
  });

  it("addresses list values by tag with ':' and by digest with '@'", () => {
    const repo = { registry: "r.io", repository: "deckhouse/ee" };
    const werfTag = `${"c0".repeat(28)}-1650502544870`;
    expect(formatReference(referenceInRepository(repo, werfTag))).toBe(`r.io/deckhouse/ee:${werfTag}`);
    expect(formatReference(referenceInRepository(repo, DIGEST))).toBe(`r.io/deckhouse/ee@${DIGEST}`);
    expect(() => referenceInRepository(repo, "not a tag")).toThrow(/neither a tag nor a digest/);
  });

  it("strips a trailing /dev to find the module repository", () => {
    expect(moduleRepository(parseImageReference("r.io/deckhouse/ee/dev:pr123"))).toEqual({ registry: "r.io", repository: "deckhouse/ee" });
    expect(moduleRepository(parseImageReference("r.io/deckhouse/ee:v1"))).toEqual({ registry: "r.io", repository: "deckhouse/ee" });
  });
});
