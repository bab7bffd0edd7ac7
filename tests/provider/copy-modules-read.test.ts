// What the copy stack reads of Deckhouse's modules, through the real client against the Kubernetes API test
// server; and the switch's gate on those groups (pure).
import { connectKube, type KubeClient } from "../../components/kube";
import { readClusterModules } from "../../components/copy/modules-read";
import { moduleReferences, requireNeededGroups } from "../../components/switch/modules-check";
import { moduleConfig, moduleObject, moduleRelease } from "../helpers/deckhouse-modules";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";

let server: KubeApiServer;
let kube: KubeClient;
beforeAll(async () => {
  server = await startKubeApiServer();
  kube = await connectKube({ kubeconfig: server.kubeconfigYaml });
});
afterAll(async () => {
  await kube?.close();
  await server?.stop();
});

const clear = () => {
  for (const kind of ["ModuleRelease", "Module", "ModuleConfig"]) for (const o of server.list("deckhouse.io/v1alpha1", kind, "")) server.remove(o.apiVersion, kind, "", o.metadata.name);
};

test("Deployed releases of source deckhouse with their channel (the Module's, else Deckhouse's, else Stable); other sources apart", async () => {
  clear();
  server.put(moduleRelease("console", "v1.2.3"));
  server.put(moduleRelease("console", "v1.2.2", { phase: "Superseded" }));
  server.put(moduleRelease("stronghold", "0.5.0"));
  server.put(moduleRelease("pending-one", "v0.1.0", { phase: "Pending" }));
  server.put(moduleRelease("partner-thing", "v3.0.0", { source: "partner" }));
  server.put(moduleObject("console", { releaseChannel: "EarlyAccess" }));
  const noChannel = await readClusterModules(kube);
  expect(noChannel).toEqual({
    deckhouse: [
      { name: "console", version: "v1.2.3", channel: "early-access", channelFrom: "Module" },
      { name: "stronghold", version: "v0.5.0", channel: "stable", channelFrom: "default" },
    ],
    others: [{ name: "partner-thing", version: "v3.0.0", source: "partner" }],
    trivyEnabled: false,
  });
  server.put(moduleConfig("deckhouse", { settings: { releaseChannel: "RockSolid" } }));
  expect((await readClusterModules(kube)).deckhouse[1]).toEqual({ name: "stronghold", version: "v0.5.0", channel: "rock-solid", channelFrom: "Deckhouse" });
});

test("operator-trivy: its ModuleConfig's spec.enabled wins; without one, the Module's EnabledByModuleManager condition", async () => {
  clear();
  expect((await readClusterModules(kube)).trivyEnabled).toBe(false);
  server.put(moduleObject("operator-trivy", { enabled: true }));
  expect((await readClusterModules(kube)).trivyEnabled).toBe(true);
  server.put(moduleConfig("operator-trivy", { enabled: false }));
  expect((await readClusterModules(kube)).trivyEnabled).toBe(false);
  server.put(moduleConfig("operator-trivy", { enabled: true }));
  server.put(moduleObject("operator-trivy", { enabled: false }));
  expect((await readClusterModules(kube)).trivyEnabled).toBe(true);
});

test("a ModuleRelease without spec.version is refused with the field named", async () => {
  clear();
  server.put({ ...moduleRelease("broken", "v1.0.0"), spec: { moduleName: "broken" } });
  await expect(readClusterModules(kube)).rejects.toThrow(/^ModuleReleases are not shaped as expected \(0\.spec\.version: /);
  clear();
});

describe("the switch's groups gate", () => {
  const modules = {
    deckhouse: [
      { name: "console", version: "v1.2.3", channel: "stable", channelFrom: "Module" as const },
      { name: "stronghold", version: "v0.5.0", channel: "stable", channelFrom: "default" as const },
    ],
    others: [{ name: "partner-thing", version: "v3.0.0", source: "partner" }],
    trivyEnabled: true,
  };
  const base = { status: "succeeded" as const, verified: true, targetImage: "r.example/d8:t" };
  const gate = (record: Record<string, unknown>, view = modules) => () => requireNeededGroups({ ...base, ...record }, view, "org/copy");

  test("the target check asks for each Deployed module's image and release image", () => {
    expect(moduleReferences(modules, "r.example/d8")).toEqual([
      "r.example/d8/modules/console:v1.2.3",
      "r.example/d8/modules/console/release:stable",
      "r.example/d8/modules/stronghold:v0.5.0",
      "r.example/d8/modules/stronghold/release:stable",
    ]);
    expect(moduleReferences(undefined, "r.example/d8")).toEqual([]);
  });
  test("passes when every Deployed module (name and version) and the databases are in the record", () => {
    expect(gate({ modules: [{ name: "stronghold", version: "v0.5.0" }, { name: "console", version: "v1.2.3" }], securityDatabases: true })).not.toThrow();
    expect(gate({}, { deckhouse: [], others: modules.others, trivyEnabled: false })).not.toThrow();
  });
  test("an older record (no modules field), another version, or no databases: one line each", () => {
    expect(gate({ securityDatabases: true })).toThrow(/^images-copier: refusing to switch: copy stack "org\/copy" did not copy the Deployed modules console v1\.2\.3, stronghold v0\.5\.0 of ModuleSource deckhouse \(its record has no modules \(an older copy stack, or copyModules: none\)\); [^\n]*$/);
    expect(gate({ modules: [{ name: "console", version: "v1.2.2" }, { name: "stronghold", version: "v0.5.0" }], securityDatabases: true })).toThrow(/did not copy the Deployed module console v1\.2\.3 /);
    expect(gate({ modules: [{ name: "console", version: "v1.2.3" }, { name: "stronghold", version: "v0.5.0" }] })).toThrow(
      /^images-copier: refusing to switch: copy stack "org\/copy" did not copy operator-trivy's security databases .* and operator-trivy is enabled; set copySecurityDatabases: auto or always and run the copy stack again/,
    );
  });
});
