// The release channel across a switch: the DeckhouseUpdates provider, serialized as Pulumi stores it and
// configured as the engine configures it, against the Kubernetes API test server: ModuleConfig `deckhouse` on
// newer releases, ConfigMap d8-system/deckhouse on older ones. Removed by `updates: disable`, put back on destroy.
import * as pulumi from "@pulumi/pulumi";
import { updatesProvider } from "../../components/switch/updates-provider";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { addStackOperator } from "../helpers/kube-api/stack-operator";
import { configureProvider, serializeAndRevive } from "../helpers/serialized-provider";

let server: KubeApiServer;
let provider: pulumi.dynamic.ResourceProvider;

beforeAll(async () => {
  server = await startKubeApiServer();
  provider = (await serializeAndRevive<pulumi.dynamic.ResourceProvider>(updatesProvider)).provider;
  // exactly the switch stack's RBAC rules (docs/permissions/switch-stack.yaml)
  await configureProvider(provider, { "kubernetes:kubeconfig": server.kubeconfigFor(addStackOperator(server, "switch-stack")) });
});

afterAll(async () => {
  await server?.stop();
});

beforeEach(() => {
  server.remove("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse");
  server.remove("v1", "ConfigMap", "d8-system", "deckhouse");
});

const settingsOf = () => (server.get("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse") as any)?.spec.settings;
const yamlOf = () => (server.get("v1", "ConfigMap", "d8-system", "deckhouse") as any)?.data.deckhouse as string;

function moduleConfig(settings: Record<string, unknown>): void {
  server.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "ModuleConfig", metadata: { name: "deckhouse" }, spec: { version: 1, settings } });
}

describe("DeckhouseUpdates provider", () => {
  it("disable: removes releaseChannel from the ModuleConfig, keeping other settings, and destroy puts it back", async () => {
    moduleConfig({ bundle: "Default", releaseChannel: "Stable", update: { mode: "Auto" } });
    const created = await provider.create!({ mode: "disable", home: "ModuleConfig", channel: "Stable" });
    expect(created.outs).toMatchObject({ removed: "Stable", removedFrom: "ModuleConfig" });
    expect(settingsOf()).toEqual({ bundle: "Default", update: { mode: "Auto" } });
    await provider.delete!(created.id, created.outs);
    expect(settingsOf()).toEqual({ bundle: "Default", update: { mode: "Auto" }, releaseChannel: "Stable" });
    expect(server.requests.filter((r) => r.method === "PATCH").map((r) => [r.path, r.contentType])).toEqual([
      ["/apis/deckhouse.io/v1alpha1/moduleconfigs/deckhouse", "application/merge-patch+json"],
      ["/apis/deckhouse.io/v1alpha1/moduleconfigs/deckhouse", "application/merge-patch+json"],
    ]);
  });

  it("disable on a release before ModuleConfig: edits the YAML of ConfigMap d8-system/deckhouse, and restores it", async () => {
    server.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "deckhouse", namespace: "d8-system" }, data: { deckhouse: "bundle: Default\nreleaseChannel: RockSolid\n" } });
    const created = await provider.create!({ mode: "disable", home: "ConfigMap", channel: "RockSolid" });
    expect(created.outs).toMatchObject({ removed: "RockSolid", removedFrom: "ConfigMap" });
    expect(yamlOf()).toBe("bundle: Default\n");
    await provider.delete!(created.id, created.outs);
    expect(yamlOf()).toBe("bundle: Default\nreleaseChannel: RockSolid\n");
  });

  it("keep: changes nothing, and its destroy changes nothing", async () => {
    moduleConfig({ releaseChannel: "EarlyAccess" });
    const writes = () => server.requests.filter((r) => r.method !== "GET").length;
    const before = writes();
    const created = await provider.create!({ mode: "keep", home: "ModuleConfig", channel: "EarlyAccess" });
    await provider.delete!(created.id, created.outs);
    expect(writes()).toBe(before);
    expect(settingsOf()).toEqual({ releaseChannel: "EarlyAccess" });
  });

  it("a channel already gone (an interrupted switch) is nothing to remove, and nothing to put back", async () => {
    moduleConfig({ bundle: "Default" });
    const created = await provider.create!({ mode: "disable", home: "ModuleConfig" });
    expect(created.outs.removed).toBeNull();
    await provider.delete!(created.id, created.outs);
    expect(settingsOf()).toEqual({ bundle: "Default" });
  });

  it("on destroy leaves a channel someone set since the switch", async () => {
    moduleConfig({ releaseChannel: "Stable" });
    const created = await provider.create!({ mode: "disable", home: "ModuleConfig", channel: "Stable" });
    moduleConfig({ releaseChannel: "Alpha" });
    await provider.delete!(created.id, created.outs);
    expect(settingsOf()).toEqual({ releaseChannel: "Alpha" });
  });

  it("changing updates from disable to keep puts the channel back; the channel the program sees alone changes nothing", async () => {
    moduleConfig({ releaseChannel: "Beta" });
    const created = await provider.create!({ mode: "disable", home: "ModuleConfig", channel: "Beta" });
    expect((await provider.diff!(created.id, created.outs, { mode: "disable", home: "ModuleConfig" })).changes).toBe(false);
    const keep = { mode: "keep", home: "ModuleConfig" };
    expect((await provider.diff!(created.id, created.outs, keep)).changes).toBe(true);
    const updated = await provider.update!(created.id, created.outs, keep);
    expect(updated.outs).toMatchObject({ mode: "keep", removed: null });
    expect(settingsOf()).toEqual({ releaseChannel: "Beta" });
  });
});
