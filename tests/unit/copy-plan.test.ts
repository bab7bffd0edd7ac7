// The copy stack's plan per group: which settings and cluster facts decide the databases and the update images,
// and the preview's lines.
import { describeCopyPlan, planCopy } from "../../components/copy/copy-plan";
import { copyStageConfigSchema } from "../../stack-config";

const config = (extra: Record<string, unknown> = {}) => copyStageConfigSchema.parse({ stage: "copy", targetImage: "r.example/d8:t", targetUsername: "u", targetPassword: "p", ...extra });
const modules = {
  deckhouse: [{ name: "console", version: "v1.2.3", channel: "stable", channelFrom: "Module" as const }],
  others: [{ name: "partner-thing", version: "v3.0.0", source: "partner" }],
  trivyEnabled: false,
};

test("databases: auto follows operator-trivy, always and never override it", () => {
  expect(planCopy({ config: config(), modules }).securityDatabases).toEqual({ images: 0, why: "operator-trivy is not enabled" });
  expect(planCopy({ config: config(), modules: { ...modules, trivyEnabled: true } }).securityDatabases).toEqual({ images: 4, why: "operator-trivy is enabled" });
  expect(planCopy({ config: config({ copySecurityDatabases: "always" }), modules }).securityDatabases.images).toBe(4);
  expect(planCopy({ config: config({ copySecurityDatabases: "never" }), modules: { ...modules, trivyEnabled: true } }).securityDatabases.images).toBe(0);
});

test("update images: every channel with copyUpdateImages, else the cluster's own channel unless turned off or unset", () => {
  expect(planCopy({ config: config({ copyUpdateImages: true }), modules, releaseChannel: "stable" }).updates).toMatchObject({ images: 6 });
  expect(planCopy({ config: config(), modules, releaseChannel: "early-access" }).updates).toEqual({ images: 1, releaseChannel: "early-access", why: "the cluster's release channel (copyReleaseChannel)" });
  expect(planCopy({ config: config({ copyReleaseChannel: false }), modules, releaseChannel: "stable" }).updates).toEqual({ images: 0, why: "copyReleaseChannel: false" });
  expect(planCopy({ config: config(), modules }).updates).toEqual({ images: 0, why: "no release channel set in the cluster" });
});

test("modules: none lists the deckhouse ones as not copied too; the lines say it", () => {
  const none = planCopy({ config: config({ copyModules: "none" }), modules, imagesCount: 12 });
  expect(none.modules).toEqual({
    mode: "none",
    copied: [],
    notCopied: [
      { name: "partner-thing", version: "v3.0.0", source: "partner" },
      { name: "console", version: "v1.2.3", source: "deckhouse (copyModules: none)" },
    ],
  });
  expect(describeCopyPlan(none)).toEqual([
    "copy plan: release images: 12 from imagesFile",
    "copy plan: Deckhouse image: 1, as r.example/d8:t",
    "copy plan: modules: 0",
    "copy plan: security databases: 0 (operator-trivy is not enabled)",
    "copy plan: update images: 0 (no release channel set in the cluster)",
    "copy plan: not copied (their registry does not change): partner-thing v3.0.0 from ModuleSource partner, console v1.2.3 from ModuleSource deckhouse (copyModules: none)",
  ]);
});
