// The modules file of `--with-modules` (and the copy Job's modules.json): validated entry by entry, one line naming
// the bad value; channels and versions normalized to the tags Deckhouse pulls.
import { parseModulesList } from "../../copier/modules-list";
import { groupTotals, planModule, planSecurityDatabases, releaseGroupOf } from "../../copier/plan-groups";
import { formatReference } from "../../copier";

test("names, versions and channels as Deckhouse tags them", () => {
  expect(parseModulesList([{ name: "console", version: "1.2.3", channel: "EarlyAccess" }, { name: "sds-node", version: "v0.4.1-rc.1", channel: "rock-solid" }], "m.json")).toEqual([
    { name: "console", version: "v1.2.3", channel: "early-access" },
    { name: "sds-node", version: "v0.4.1-rc.1", channel: "rock-solid" },
  ]);
  expect(parseModulesList([], "m.json")).toEqual([]);
});

test.each([
  [{ modules: [] }, /^m\.json: must be a JSON list of \{name, version, channel\}, got \{"modules":\[\]\}$/],
  [[{ name: "Console", version: "1.0.0", channel: "Stable" }], /^m\.json \[0\]\.name: name must be a module name .* got "Console"$/],
  [[{ name: "console", version: "latest", channel: "Stable" }], /^m\.json \[0\]\.version: version must be a semantic version like "v1\.2\.3", got "latest"$/],
  [[{ name: "console", version: "1.0.0" }], /^m\.json \[0\]\.channel: channel must be a string, got undefined$/],
  [[{ name: "a", version: "1.0.0", channel: "Stable" }, { name: "a", version: "1.0.1", channel: "Stable" }], /^m\.json \[1\]\.name: module "a" is listed twice/],
])("refuses %j in one line", (value, message) => {
  expect(() => parseModulesList(value, "m.json")).toThrow(message);
});

test("the layout: <repo>/modules/<name>:<version>, /release:<channel>, @<digest>; the databases under <repo>/security", () => {
  const plan = planModule("src.example/deckhouse/ee/dev:v1.70.1", "dst.example/mirror/d8:v1.70.1", { name: "console", version: "v1.2.3", channel: "stable" });
  expect(formatReference(plan.image.source)).toBe("src.example/deckhouse/ee/modules/console:v1.2.3");
  expect(formatReference(plan.image.target)).toBe("dst.example/mirror/d8/modules/console:v1.2.3");
  expect(formatReference(plan.release.target)).toBe("dst.example/mirror/d8/modules/console/release:stable");
  expect(formatReference(plan.component(`sha256:${"a".repeat(64)}`).target)).toBe(`dst.example/mirror/d8/modules/console@sha256:${"a".repeat(64)}`);
  expect(planSecurityDatabases("src.example/deckhouse/ee:v1", "dst.example/mirror/d8:t").map((j) => `${formatReference(j.target)} ${j.optional}`)).toEqual([
    "dst.example/mirror/d8/security/trivy-db:2 true",
    "dst.example/mirror/d8/security/trivy-bdu:1 true",
    "dst.example/mirror/d8/security/trivy-java-db:1 true",
    "dst.example/mirror/d8/security/trivy-checks:0 true",
  ]);
});

test("a release job copying the Deckhouse image's own reference is the deckhouse group, whatever its target tag", () => {
  const deckhouse = { registry: "s", repository: "d8/ee", tag: "v1.70.1" };
  expect(releaseGroupOf({ source: deckhouse, target: { registry: "t", repository: "m", tag: "v1.70.1" } }, deckhouse)).toBe("deckhouse");
  expect(releaseGroupOf({ source: deckhouse, target: { registry: "t", repository: "m", tag: "rock-solid" } }, deckhouse)).toBe("deckhouse");
  expect(releaseGroupOf({ source: { registry: "s", repository: "d8/ee", digest: `sha256:${"c".repeat(64)}` }, target: { registry: "t", repository: "m" } }, deckhouse)).toBe("release");
  expect(groupTotals([{ group: "modules", status: "copied" }, { group: "modules", status: "failed" }, { status: "absent" }])).toMatchObject({
    modules: { images: 2, copied: 1, failed: 1 },
    release: { images: 1, absent: 1 },
    security: { images: 0 },
  });
});
