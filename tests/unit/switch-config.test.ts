// The switch stage's stack config: its keys in Pulumi.yaml with the defaults the program applies, and bad values
// refused by name.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readStackConfig, switchStageConfigSchema } from "../../stack-config";

const base: Record<string, string> = { stage: "switch", targetImage: "r.example/d/ee:t", targetUsername: "u", targetPassword: "p", copyStack: "org/images-copier/copy" };

describe("switch stage config", () => {
  it("takes Pulumi.yaml's defaults to the schema's: updates from the copy record, checks from here", () => {
    const { loadYaml } = require("@kubernetes/client-node") as { loadYaml(text: string): any };
    const schema = loadYaml(readFileSync(join(__dirname, "../../Pulumi.yaml"), "utf8")).config as Record<string, { default?: unknown }>;
    const values: Record<string, string> = { ...base };
    for (const [key, decl] of Object.entries(schema)) if (decl.default !== undefined && !(key in values)) values[key] = String(decl.default);
    const parsed = readStackConfig({ get: (key) => values[key] });
    expect(parsed).toEqual(switchStageConfigSchema.parse({ ...base }));
    expect(parsed).toMatchObject({ checkFrom: "local", copierImage: "node:20-bookworm-slim", copierBundled: false });
    expect("updates" in parsed && parsed.updates).toBeFalsy();
  });

  it("reads restartOldRegistryWorkloads (default none)", () => {
    expect(readStackConfig({ get: (key) => ({ ...base, restartOldRegistryWorkloads: "istio" })[key] })).toMatchObject({ restartOldRegistryWorkloads: "istio" });
    expect(readStackConfig({ get: (key) => base[key] })).toMatchObject({ restartOldRegistryWorkloads: "none" });
  });

  it("reads updates and checkFrom", () => {
    expect(readStackConfig({ get: (key) => ({ ...base, updates: "keep", checkFrom: "cluster" })[key] })).toMatchObject({ updates: "keep", checkFrom: "cluster" });
  });

  it("kubeImpersonate: system:sudouser unless set; \"\" turns it off (the program's access and the providers' alike)", () => {
    const { kubeAccessFromConfig } = require("../../components/kube/access") as typeof import("../../components/kube/access");
    expect(readStackConfig({ get: (key) => base[key] })).toMatchObject({ kubeImpersonate: "system:sudouser" });
    expect(readStackConfig({ get: (key) => ({ ...base, kubeImpersonate: "" })[key] })).toMatchObject({ kubeImpersonate: "" });
    expect(readStackConfig({ get: (key) => ({ ...base, kubeImpersonate: "ops-admin" })[key] })).toMatchObject({ kubeImpersonate: "ops-admin" });
    expect(() => readStackConfig({ get: (key) => ({ ...base, kubeImpersonate: "a\nb" })[key] })).toThrow(/kubeImpersonate must be a user name on one line/);
    const providerConfig = (values: Record<string, string>) => ({ get: (key: string) => values[key] });
    expect(kubeAccessFromConfig(providerConfig({})).impersonate).toBe("system:sudouser");
    expect(kubeAccessFromConfig(providerConfig({ "images-copier:kubeImpersonate": "" })).impersonate).toBeUndefined();
    expect(kubeAccessFromConfig(providerConfig({ "images-copier:kubeImpersonate": "ops-admin", "kubernetes:context": "c" }))).toEqual({ context: "c", impersonate: "ops-admin" });
  });

  it("refuses other values, naming the key", () => {
    expect(() => readStackConfig({ get: (key) => ({ ...base, updates: "sometimes" })[key] })).toThrow('images-copier: updates must be "keep" or "disable"');
    expect(() => readStackConfig({ get: (key) => ({ ...base, checkFrom: "moon" })[key] })).toThrow('images-copier: checkFrom must be "local" or "cluster"');
    expect(() => readStackConfig({ get: (key) => ({ ...base, restartOldRegistryWorkloads: "some" })[key] })).toThrow('images-copier: restartOldRegistryWorkloads "some" must be "none", "istio" or "all"');
    expect(() => readStackConfig({ get: (key) => ({ ...base, checkFrom: "cluster", copierBundled: "true" })[key] })).toThrow(/copierBundled needs copierImage/);
  });
});
