// The ModuleConfig path's work against the Kubernetes API test server and the simulated registry module orchestrator
// (tests/helpers/registry-orchestrator.ts): the section written (license dropped, the operator's checkMode kept),
// the wait for Secret registry-state with the other conditions relayed and named on timeout, a re-run that finds
// the target already in place, Direct (the Deployment keeps the in-cluster address), and the pieces read on the way
// (registry-state's conditions as Deckhouse renders them, the migration's section from deckhouse-registry).
import { connectKube, type KubeClient } from "../../components/kube";
import { sectionPatch, writeRegistrySection } from "../../components/switch/paths/module-config-cluster";
import { sectionFromRegistrySecret, upstreamImage } from "../../components/switch/paths/module-config";
import { describeState, readRegistryState } from "../../components/switch/paths/registry-state";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";
import { registryStateSecret, startRegistryOrchestrator, type RegistryOrchestrator } from "../helpers/registry-orchestrator";
import { b64, vendorSecretData } from "../helpers/switch-fixture";

const MC = "deckhouse.io/v1alpha1";
const OLD = "registry.deckhouse.io/deckhouse/ee";
let server: KubeApiServer;
let kube: KubeClient;
let orchestrator: RegistryOrchestrator;

beforeAll(async () => {
  server = await startKubeApiServer();
  kube = await connectKube({ kubeconfig: server.kubeconfigYaml });
});

afterAll(async () => {
  await kube?.close();
  await server?.stop();
});

beforeEach(() => {
  server.put(deckhouseDeployment({ containers: [{ name: "deckhouse", image: `${OLD}:v1.75.1` }] }) as KubeObject);
  server.put({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/dockerconfigjson", metadata: { name: "deckhouse-registry", namespace: "d8-system" }, data: vendorSecretData(OLD) } as KubeObject);
  server.put({ apiVersion: MC, kind: "ModuleConfig", metadata: { name: "deckhouse" }, spec: { version: 1, settings: { registry: { mode: "Unmanaged", unmanaged: { imagesRepo: OLD, license: "L-1", checkMode: "Relax" } } } } });
  server.put(registryStateSecret("Unmanaged", "Unmanaged", [{ type: "Ready", status: "True" }], "initial"));
  orchestrator = startRegistryOrchestrator(server, {});
});

afterEach(() => orchestrator.stop());

const registry = () => (server.get(MC, "ModuleConfig", "", "deckhouse")!.spec as { settings: { registry: Record<string, unknown> } }).settings.registry;

describe("writeRegistrySection", () => {
  it("a target the module cannot confirm: times out naming registry-state's pending conditions, which it relayed while waiting", async () => {
    const lines: string[] = [];
    const write = writeRegistrySection(kube, {
      mode: "Unmanaged",
      section: { imagesRepo: "nexus.corp.example/d8", scheme: "HTTPS", username: "u", password: "p" },
      timeoutMs: 1500,
      pollMs: 50,
      log: (line) => lines.push(line),
    });
    await expect(write).rejects.toThrow(
      /^the registry module did not reach mode Unmanaged with unmanaged\.imagesRepo nexus\.corp\.example\/d8 within 2 s \(Secret d8-system\/registry-state: mode Unmanaged, target_mode Unmanaged; RegistryContainsRequiredImages False \(Processing\): 1 of 1 images are missing: nexus\.corp\.example\/d8: registry nexus\.corp\.example is not reachable; Ready False \(Processing\): Transitioning to Unmanaged\)$/,
    );
    expect(lines.at(-1)).toContain("images-copier: registry module: mode Unmanaged, target_mode Unmanaged; RegistryContainsRequiredImages False");
    expect(new Set(lines).size).toBe(lines.length); // each state once
    expect(registry()).toEqual({ mode: "Unmanaged", unmanaged: { imagesRepo: "nexus.corp.example/d8", scheme: "HTTPS", username: "u", password: "p", checkMode: "Relax" } });
  });

  it("Direct on the vendor's registry: Ready; deckhouse-registry names the in-cluster address; the Deployment keeps its image; a re-run writes nothing", async () => {
    server.put({ apiVersion: MC, kind: "ModuleConfig", metadata: { name: "deckhouse" }, spec: { version: 1, settings: { registry: { mode: "Direct", direct: { imagesRepo: "nexus.corp.example/d8", username: "u", password: "p" } } } } });
    await orchestrator.idle();
    const section = { imagesRepo: OLD, scheme: "HTTPS" as const, license: "L-2" };
    await writeRegistrySection(kube, { mode: "Direct", section, timeoutMs: 5000, pollMs: 50, log: () => {} });
    expect(orchestrator.switches.at(-1)).toBe(`Direct ${OLD}`);
    expect(registry()).toEqual({ mode: "Direct", direct: section });
    const secret = server.get("v1", "Secret", "d8-system", "deckhouse-registry")!.data as Record<string, string>;
    expect(Buffer.from(secret.address, "base64").toString()).toBe("registry.d8-system.svc:5001");
    expect((server.get("apps/v1", "Deployment", "d8-system", "deckhouse")!.spec as any).template.spec.containers[0].image).toBe(`${OLD}:v1.75.1`);

    const patches = () => server.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/moduleconfigs/deckhouse")).length;
    const before = patches();
    await writeRegistrySection(kube, { mode: "Direct", section, timeoutMs: 5000, pollMs: 50, log: () => {} });
    expect(patches()).toBe(before);
  });
});

describe("the pieces", () => {
  it("sectionPatch: sets the owned fields, removes the ones not given (license), leaves checkMode and ttl alone", () => {
    expect(sectionPatch("Proxy", { imagesRepo: "r.example/d8", scheme: "HTTP", username: "u", password: "p" })).toEqual({
      spec: { settings: { registry: { mode: "Proxy", proxy: { imagesRepo: "r.example/d8", scheme: "HTTP", ca: null, license: null, username: "u", password: "p" } } } },
    });
  });

  it("registry-state's conditions as Deckhouse renders them (toYaml of metav1.Condition)", async () => {
    const conditions = [
      "- lastTransitionTime: \"2026-01-01T00:00:00Z\"",
      "  message: 'Processing: 3 of 40 nodes'",
      "  observedGeneration: 2",
      "  reason: Processing",
      "  status: \"False\"",
      "  type: TransitionContainerdConfigReady",
      "- lastTransitionTime: \"2026-01-01T00:00:00Z\"",
      "  message: \"\"",
      "  observedGeneration: 2",
      "  reason: \"\"",
      "  status: \"True\"",
      "  type: RegistryContainsRequiredImages",
    ].join("\n");
    const secret = registryStateSecret("Unmanaged", "Direct", [], "h1");
    server.put({ ...secret, data: { ...(secret.data as object), conditions: b64(conditions) } });
    const state = await readRegistryState(kube);
    expect(describeState(state)).toBe("mode Unmanaged, target_mode Direct; TransitionContainerdConfigReady False (Processing): Processing: 3 of 40 nodes");
  });

  it("the migration's section from deckhouse-registry: license-token becomes license; user and password split at the first colon; http and ca kept", () => {
    expect(sectionFromRegistrySecret(vendorSecretData(OLD))).toEqual({ imagesRepo: OLD, scheme: "HTTPS", license: "LicenseKey-9f8e7d6c" });
    const auth = JSON.stringify({ auths: { "nexus.corp:8080": { auth: b64("robot:pa:ss") } } });
    expect(sectionFromRegistrySecret({ ".dockerconfigjson": b64(auth), address: b64("nexus.corp:8080"), path: b64("/d8/ee"), scheme: b64("http"), ca: b64("PEM") })).toEqual({
      imagesRepo: "nexus.corp:8080/d8/ee",
      scheme: "HTTP",
      ca: "PEM",
      username: "robot",
      password: "pa:ss",
    });
    expect(() => sectionFromRegistrySecret({})).toThrow("has no address");
  });

  it("upstreamImage: the in-cluster address stands for the upstream; other images stay", () => {
    expect(upstreamImage("registry.d8-system.svc:5001/system/deckhouse:v1.75.1", "nexus.corp/d8")).toBe("nexus.corp/d8:v1.75.1");
    expect(upstreamImage(`${OLD}:v1.75.1`, "nexus.corp/d8")).toBe(`${OLD}:v1.75.1`);
  });
});
