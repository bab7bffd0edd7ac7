// The copy stage's keys for modules, security databases and the release channel: Pulumi.yaml's defaults are the
// schema's, and a bad value is refused in one line naming the key.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { copyStageConfigSchema, readStackConfig } from "../../stack-config";

const base: Record<string, string> = { stage: "copy", targetImage: "r.example/d/ee:t", targetUsername: "u", targetPassword: "p" };

test("Pulumi.yaml's defaults: modules deployed, databases auto, the cluster's channel copied", () => {
  const { loadYaml } = require("@kubernetes/client-node") as { loadYaml(text: string): any };
  const schema = loadYaml(readFileSync(join(__dirname, "../../Pulumi.yaml"), "utf8")).config as Record<string, { default?: unknown }>;
  const values: Record<string, string> = { ...base };
  for (const [key, decl] of Object.entries(schema)) if (decl.default !== undefined && !(key in values)) values[key] = String(decl.default);
  const parsed = readStackConfig({ get: (key) => values[key] });
  expect(parsed).toEqual(copyStageConfigSchema.parse({ ...base }));
  expect(parsed).toMatchObject({ copyModules: "deployed", copySecurityDatabases: "auto", copyReleaseChannel: true });
});

test("reads the values and refuses others, naming the key", () => {
  expect(readStackConfig({ get: (key) => ({ ...base, copyModules: "none", copySecurityDatabases: "always", copyReleaseChannel: "false" })[key] })).toMatchObject({
    copyModules: "none",
    copySecurityDatabases: "always",
    copyReleaseChannel: false,
  });
  expect(() => readStackConfig({ get: (key) => ({ ...base, copyModules: "all" })[key] })).toThrow(/^images-copier: copyModules must be "deployed" or "none"$/);
  expect(() => readStackConfig({ get: (key) => ({ ...base, copySecurityDatabases: "yes" })[key] })).toThrow(/^images-copier: copySecurityDatabases must be "auto", "always" or "never"$/);
});
