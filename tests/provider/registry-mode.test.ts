// Which registry path a cluster needs (components/registry-mode.ts), read through the project's Kubernetes client
// from the Kubernetes API test server: ModuleConfig `deckhouse` spec.settings.registry, Module `registry` (its
// EnabledByModuleManager condition), ModuleConfig `registry`, and the release (the Deployment's version annotation).
import { connectKube, type KubeClient } from "../../components/kube";
import { classifyRegistryPath, describeRegistryPath, readRegistryPath } from "../../components/registry-mode";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";

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

const MC = "deckhouse.io/v1alpha1";

function seed(opts: { release?: string; registry?: Record<string, unknown>; moduleEnabled?: boolean; registryConfig?: Record<string, unknown> }): void {
  for (const name of ["deckhouse", "registry"]) server.remove(MC, "ModuleConfig", "", name);
  server.remove(MC, "Module", "", "registry");
  server.put(
    deckhouseDeployment({
      containers: [{ name: "deckhouse", image: "registry.deckhouse.io/deckhouse/ee:rock-solid" }],
      annotations: opts.release ? { "core.deckhouse.io/version": opts.release } : undefined,
    }) as KubeObject,
  );
  server.put({ apiVersion: MC, kind: "ModuleConfig", metadata: { name: "deckhouse" }, spec: { version: 1, settings: { bundle: "Default", ...(opts.registry ? { registry: opts.registry } : {}) } } });
  if (opts.moduleEnabled !== undefined) {
    server.put({
      apiVersion: MC,
      kind: "Module",
      metadata: { name: "registry" },
      properties: { weight: 38, source: "Embedded" },
      status: { phase: opts.moduleEnabled ? "Ready" : "Available", conditions: [{ type: "EnabledByModuleManager", status: opts.moduleEnabled ? "True" : "False" }] },
    });
  }
  if (opts.registryConfig) server.put({ apiVersion: MC, kind: "ModuleConfig", metadata: { name: "registry" }, spec: { version: 1, ...opts.registryConfig } });
}

describe("readRegistryPath from the cluster", () => {
  it("v1.58 without a registry module: legacy", async () => {
    seed({ release: "v1.58.2" });
    const path = await readRegistryPath(kube);
    expect(path).toEqual({ path: "legacy", release: "v1.58.2", why: "Deckhouse v1.58.2 has no registry module (from v1.72)" });
    expect(describeRegistryPath(path)).toBe("legacy (Secret d8-system/deckhouse-registry; Deckhouse v1.58.2 has no registry module (from v1.72))");
  });

  it("v1.74 with the module enabled and no imagesRepo: module-legacy (the migration first); with the module disabled: legacy", async () => {
    seed({ release: "v1.74.3", registry: { mode: "Unmanaged" }, moduleEnabled: true });
    expect(await readRegistryPath(kube)).toEqual({ path: "module-legacy", release: "v1.74.3" });
    seed({ release: "v1.74.3", moduleEnabled: false });
    expect(await readRegistryPath(kube)).toEqual({ path: "legacy", release: "v1.74.3", why: "the registry module is disabled" });
    // no Module object, ModuleConfig registry disabled: the same
    seed({ release: "v1.74.3", registryConfig: { enabled: false } });
    expect(await readRegistryPath(kube)).toMatchObject({ path: "legacy", why: "the registry module is disabled" });
  });

  it("v1.72 with the module enabled and the legacy mode: legacy (change-registry still applies)", async () => {
    seed({ release: "v1.72.10", moduleEnabled: true });
    expect(await readRegistryPath(kube)).toMatchObject({ path: "legacy", why: expect.stringContaining("no configurable Unmanaged mode (from v1.73)") });
  });

  it("v1.74 configurable Unmanaged: module, its section with the credentials", async () => {
    const unmanaged = { imagesRepo: "registry.deckhouse.io/deckhouse/ee", license: "LicenseKey-1", scheme: "HTTPS" };
    seed({ release: "v1.74.3", registry: { mode: "Unmanaged", unmanaged }, moduleEnabled: true });
    const path = await readRegistryPath(kube);
    expect(path).toEqual({ path: "module", mode: "Unmanaged", section: unmanaged, release: "v1.74.3" });
    expect(describeRegistryPath(path)).not.toContain("LicenseKey-1");
  });

  it("v1.75 Direct with username and password: module, mode Direct", async () => {
    const direct = { imagesRepo: "nexus.corp:5000/deckhouse/ee", username: "u", password: "p", ca: "-----BEGIN CERTIFICATE-----", checkMode: "Relax" };
    seed({ release: "v1.75.0", registry: { mode: "Direct", direct }, moduleEnabled: true });
    expect(await readRegistryPath(kube)).toEqual({ path: "module", mode: "Direct", section: direct, release: "v1.75.0" });
  });

  it("Local and ModuleConfig registry in mode Managed: refused in one line", async () => {
    seed({ release: "v1.75.0", registry: { mode: "Local" }, moduleEnabled: true });
    const local = await readRegistryPath(kube);
    expect(local).toMatchObject({ path: "refused", reason: expect.stringMatching(/^images-copier: refusing to switch registries: ModuleConfig deckhouse sets registry mode Local \(Deckhouse v1\.75\.0\): .*d8 mirror push/) });
    expect((local as { reason: string }).reason).not.toContain("\n");
    seed({ release: "v1.77.0", moduleEnabled: true, registryConfig: { settings: { mode: "Managed", primary: { upstream: { host: "registry.deckhouse.io" } } } } });
    expect(await readRegistryPath(kube)).toMatchObject({ path: "refused", reason: expect.stringContaining("ModuleConfig registry is in mode Managed") });
  });

  it("a release the cluster does not name: the registry settings decide alone", async () => {
    seed({ registry: { mode: "Proxy", proxy: { imagesRepo: "r.example/d8", username: "u", password: "p", ttl: "24h" } }, moduleEnabled: true });
    expect(await readRegistryPath(kube)).toMatchObject({ path: "module", mode: "Proxy", release: undefined });
  });
});

describe("classifyRegistryPath", () => {
  it("a configurable mode while the module is not enabled is refused: nothing would act on the change", () => {
    const path = classifyRegistryPath({ settings: { mode: "Direct", direct: { imagesRepo: "r.example/d8" } }, moduleEnabled: false, release: "v1.75.1" });
    expect(path).toMatchObject({ path: "refused", reason: expect.stringContaining("Module registry is disabled") });
  });

  it("malformed settings are refused naming the field", () => {
    expect(classifyRegistryPath({ settings: { mode: "Direct", direct: { imagesRepo: 5 } }, moduleEnabled: true })).toMatchObject({
      path: "refused",
      reason: expect.stringContaining("(direct.imagesRepo:"),
    });
  });

  it("an unknown mode is refused; v1.71 is legacy whatever the settings", () => {
    expect(classifyRegistryPath({ settings: { mode: "Mirror" }, moduleEnabled: true })).toMatchObject({ path: "refused", reason: expect.stringContaining('registry mode "Mirror"') });
    expect(classifyRegistryPath({ settings: { mode: "Direct", direct: { imagesRepo: "r/x" } }, moduleEnabled: true, release: "v1.71.4" })).toMatchObject({ path: "legacy" });
  });
});
