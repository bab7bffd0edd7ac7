// Platforms for publish-image: `os/arch[/variant]` parsed strictly, and matched as docker and containerd match
// them (no variant asked: any variant; arm64 without a variant is v8).
import { formatPlatform, parsePlatform, platformMatches } from "../../copier/image/platform";

describe("platforms", () => {
  it("parses os/architecture and os/architecture/variant, in lower case", () => {
    expect(parsePlatform("linux/amd64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(parsePlatform(" Linux/ARM64/v8 ")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
  });

  it.each(["linux", "linux/", "linux/amd64/v1/extra", "/amd64", "linux amd64"])("refuses %p, naming it", (text) => {
    expect(() => parsePlatform(text)).toThrow(`platform "${text}" is not os/architecture[/variant]`);
  });

  it("matches any variant when none is asked for", () => {
    const arm64 = parsePlatform("linux/arm64");
    expect(platformMatches(arm64, { os: "linux", architecture: "arm64", variant: "v8" })).toBe(true);
    expect(platformMatches(arm64, { os: "linux", architecture: "arm64" })).toBe(true);
    expect(platformMatches(arm64, { os: "linux", architecture: "amd64" })).toBe(false);
    expect(platformMatches(arm64, { os: "windows", architecture: "arm64" })).toBe(false);
    expect(platformMatches(arm64, undefined)).toBe(false);
  });

  it("takes arm64 without a variant as v8, and matches other variants exactly", () => {
    expect(platformMatches(parsePlatform("linux/arm64/v8"), { os: "linux", architecture: "arm64" })).toBe(true);
    expect(platformMatches(parsePlatform("linux/arm/v7"), { os: "linux", architecture: "arm", variant: "v7" })).toBe(true);
    expect(platformMatches(parsePlatform("linux/arm/v7"), { os: "linux", architecture: "arm", variant: "v6" })).toBe(false);
    expect(platformMatches(parsePlatform("linux/arm/v7"), { os: "linux", architecture: "arm" })).toBe(false);
  });

  it("prints platforms as docker does", () => {
    expect(formatPlatform({ os: "linux", architecture: "arm64", variant: "v8" })).toBe("linux/arm64/v8");
    expect(formatPlatform({ os: "unknown", architecture: "unknown" })).toBe("unknown/unknown");
    expect(formatPlatform(undefined)).toBe("unknown");
  });
});
