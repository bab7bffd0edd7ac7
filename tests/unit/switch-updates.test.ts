// The release channel: its tag in the registry, and the YAML of the ConfigMap older releases keep it in.
import { channelInYaml, channelTag, yamlWithChannel } from "../../components/switch/updates";

describe("channelTag", () => {
  it("kebab-cases the channel as Deckhouse names the release-channel image's tag", () => {
    expect(["Alpha", "Beta", "EarlyAccess", "Stable", "RockSolid"].map(channelTag)).toEqual(["alpha", "beta", "early-access", "stable", "rock-solid"]);
  });
});

describe("the ConfigMap d8-system/deckhouse key deckhouse (YAML)", () => {
  const yaml = "bundle: Default\nreleaseChannel: EarlyAccess\nupdate:\n  windows:\n  - from: \"19:00\"\n    to: \"20:00\"\n";

  it("reads the channel", () => {
    expect(channelInYaml(yaml)).toBe("EarlyAccess");
    expect(channelInYaml("bundle: Default\n")).toBeUndefined();
    expect(channelInYaml("")).toBeUndefined();
    expect(channelInYaml(undefined)).toBeUndefined();
  });

  it("removes only releaseChannel, and puts it back, keeping every other setting", () => {
    const without = yamlWithChannel(yaml, undefined);
    expect(channelInYaml(without)).toBeUndefined();
    expect(without).toContain("bundle: Default");
    expect(without).toContain("19:00");
    const back = yamlWithChannel(without, "EarlyAccess");
    expect(channelInYaml(back)).toBe("EarlyAccess");
    expect(yamlWithChannel("releaseChannel: Stable\n", undefined)).toBe("");
  });

  it("refuses a value that is not a YAML mapping, naming the object", () => {
    expect(() => channelInYaml("- a\n- b\n")).toThrow("ConfigMap d8-system/deckhouse: key deckhouse is not a YAML mapping");
  });
});
