import { planOriginalTag, planRelease } from "../../copier/plan";

const IMAGES = { common: { kubeRbacProxy: "a".repeat(56) + "-1650502544870" } };

describe("planOriginalTag: the Deckhouse image also under its current tag in the target", () => {
  const deckhouseJob = (source: string, target: string) => planRelease(source, target, IMAGES).at(-1)!;

  it("a tagged source: the target repository under the source's tag", () => {
    expect(planOriginalTag(deckhouseJob("registry.deckhouse.io/deckhouse/ee:v1.76.2", "r.example.com/d8/ee:switched"))).toEqual({
      source: { registry: "registry.deckhouse.io", repository: "deckhouse/ee", tag: "v1.76.2", digest: undefined },
      target: { registry: "r.example.com", repository: "d8/ee", tag: "v1.76.2" },
    });
  });

  it("a dev build keeps its tag and lands in the target repository itself", () => {
    expect(planOriginalTag(deckhouseJob("dev-registry.deckhouse.io/sys/deckhouse-oss/dev:pr1234", "r.example.com/d8:t"))?.target).toEqual({ registry: "r.example.com", repository: "d8", tag: "pr1234" });
  });

  it("none for a digest-only source or a target that already carries the tag", () => {
    expect(planOriginalTag(deckhouseJob(`registry.deckhouse.io/deckhouse/ee@sha256:${"b".repeat(64)}`, "r.example.com/d8/ee:t"))).toBeUndefined();
    expect(planOriginalTag(deckhouseJob("registry.deckhouse.io/deckhouse/ee:v1.76.2", "r.example.com/d8/ee:v1.76.2"))).toBeUndefined();
  });
});
