// The switch's ModuleConfig path through the engine stand-in: the project's index.ts under the real Node language
// runtime, the dynamic resources through the real dynamic-provider host, the target a real docker-registry with the
// suite's token server, the cluster the Kubernetes API test server, and the registry module's orchestrator a
// simulation the test plays (tests/helpers/registry-orchestrator.ts: it HEADs the Deckhouse image in the target
// registry with the ModuleConfig's credentials, advances Secret registry-state, rewrites deckhouse-registry and the
// Deployment's images, reverts a direct change of deckhouse-registry). Scenarios: v1.74 with the module enabled
// but still in the legacy mode (preview says migration; up migrates then switches; destroy back to the
// configurable Unmanaged mode with the vendor's repository), v1.74 configurable Unmanaged (up, up again, destroy),
// and Local refused in one line. No credential in plain text anywhere. Every run acts as the operator with exactly the
// switch stack's RBAC rules (docs/permissions/switch-stack.yaml), none of its requests refused.
import { join } from "node:path";
import { pushImage } from "../helpers/images";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { addStackOperator } from "../helpers/kube-api/stack-operator";
import { findPlaintextSecrets, opOf, plainOutputs, PulumiEngine, type RunResult } from "../helpers/pulumi-engine";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { registryStateSecret, startRegistryOrchestrator, type RegistryOrchestrator } from "../helpers/registry-orchestrator";
import { b64, LICENSE_KEY, PROXY_PASSWORD, seedDeckhouseCluster, unb64, type DeckhouseClusterSpec } from "../helpers/switch-fixture";

const ROOT = join(__dirname, "..", "..");
const OLD = "registry.deckhouse.io/deckhouse/ee";
const SOURCE_IMAGE = `${OLD}:v1.74.3`;
const REPO = "client/deckhouse";
const TAG = `${"c".repeat(56)}-1750502544870`;
const PASSWORD = 'module-Pa55"word:xyz';
const COPY_STACK = "org/images-copier/copy";
const READY = { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };
const MC = "deckhouse.io/v1alpha1";

let kube: KubeApiServer;
/** The operator with exactly docs/permissions/switch-stack.yaml's rules: every run acts as it. */
let operatorToken: string;
let registry: TestRegistry;
let copied: string;
let moduleDigest: string;

beforeAll(async () => {
  [kube, registry] = await Promise.all([startKubeApiServer(), startRegistry({ tls: true, auth: "token", username: "client", password: PASSWORD })]);
  operatorToken = addStackOperator(kube, "switch-stack");
  const layers = [{ size: 2048, seed: "module-path" }];
  copied = (await pushImage(registry, REPO, { format: "docker", seed: "deckhouse-v1.74.3", layers }, "rock-solid-1.74")).digest;
  // The original tag, as the copy pushes it (issue 17 item 6): the module renders `<imagesRepo>:<current tag>`.
  const original = (await pushImage(registry, REPO, { format: "docker", seed: "deckhouse-v1.74.3", layers }, "v1.74.3")).digest;
  expect(original).toBe(copied);
  await pushImage(registry, REPO, { format: "oci", seed: "kube-rbac-proxy", layers }, TAG);
  moduleDigest = (await pushImage(registry, REPO, { format: "oci", seed: "init", layers })).digest;
}, 120_000);

afterAll(async () => {
  await Promise.all([kube?.stop(), registry?.stop()]);
});

const target = () => `${registry.host}/${REPO}`;
const targetImage = () => `${target()}:rock-solid-1.74`;

function record() {
  return { status: "succeeded", verified: true, targetImage: targetImage(), runId: "1", sourceImage: SOURCE_IMAGE, sourceDigest: copied, sourceRepository: OLD, imagesDigest: `sha256:${"b".repeat(64)}`, updateImages: false };
}

/** A v1.74 cluster with the registry module enabled, registry-state Ready, and `registry` as ModuleConfig deckhouse's registry settings. */
function seedModuleCluster(registrySettings: Record<string, unknown> | undefined): void {
  const spec: DeckhouseClusterSpec = {
    source: OLD,
    initContainers: [{ name: "init-downloaded-modules", image: `${OLD}@${moduleDigest}` }],
    containers: [{ name: "deckhouse", image: SOURCE_IMAGE }, { name: "kube-rbac-proxy", image: `${OLD}:${TAG}` }],
    podImageID: `containerd://${OLD}@${copied}`,
    releaseChannel: "Stable",
    deploymentStatus: READY,
  };
  seedDeckhouseCluster(kube, spec);
  const mc = kube.get(MC, "ModuleConfig", "", "deckhouse")!;
  const settings = (mc.spec as { settings: Record<string, unknown> }).settings;
  kube.put({ ...mc, spec: { ...(mc.spec as object), settings: { ...settings, ...(registrySettings ? { registry: registrySettings } : {}) } } });
  kube.put({ apiVersion: MC, kind: "Module", metadata: { name: "registry" }, properties: { weight: 38, source: "Embedded" }, status: { phase: "Ready", conditions: [{ type: "EnabledByModuleManager", status: "True" }, { type: "IsReady", status: "True" }] } });
  kube.put(registryStateSecret("Unmanaged", "Unmanaged", [{ type: "Ready", status: "True" }], "initial"));
}

function engine(): PulumiEngine {
  return new PulumiEngine({
    programDir: ROOT,
    stack: "customer-b-switch",
    kube,
    stackReferences: { [COPY_STACK]: { outputs: { copy: record() } } },
    config: {
      stage: "switch",
      copyStack: COPY_STACK,
      targetImage: targetImage(),
      targetUsername: "client",
      targetPassword: { secret: PASSWORD },
      targetCA: registry.caPem as string,
      "kubernetes:kubeconfig": { secret: kube.kubeconfigFor(operatorToken) },
    },
  });
}

const registrySettings = () => (kube.get(MC, "ModuleConfig", "", "deckhouse")!.spec as { settings: { registry?: Record<string, any>; releaseChannel?: string } }).settings;
const registrySecret = () => {
  const data = kube.get("v1", "Secret", "d8-system", "deckhouse-registry")!.data as Record<string, string>;
  const address = unb64(data.address);
  const auth = JSON.parse(unb64(data[".dockerconfigjson"])).auths[address];
  return { repo: `${address}${unb64(data.path)}`, user: auth.username ?? unb64(auth.auth).split(":")[0], password: auth.password ?? unb64(auth.auth).split(":").slice(1).join(":") };
};
const images = () => {
  const pod = (kube.get("apps/v1", "Deployment", "d8-system", "deckhouse")!.spec as any).template.spec;
  return [...(pod.initContainers ?? []), ...pod.containers].map((c: { name: string; image: string }) => `${c.name}=${c.image}`);
};
const sensitive = () => [PASSWORD, LICENSE_KEY, PROXY_PASSWORD, kube.token, operatorToken, b64(PASSWORD)];
const VENDOR_IMAGES = () => [`init-downloaded-modules=${OLD}@${moduleDigest}`, `deckhouse=${SOURCE_IMAGE}`, `kube-rbac-proxy=${OLD}:${TAG}`];
const TARGET_IMAGES = () => [`init-downloaded-modules=${target()}@${moduleDigest}`, `deckhouse=${target()}:v1.74.3`, `kube-rbac-proxy=${target()}:${TAG}`];
const LEGACY_RESOURCES = ["switch-rollback", "switch-deckhouse-registry", "switch-deckhouse"];
const targetSection = () => ({ imagesRepo: target(), scheme: "HTTPS", ca: (registry.caPem as string).trim(), username: "client", password: PASSWORD });

async function settled(orchestrator: RegistryOrchestrator, run: Promise<RunResult>): Promise<RunResult> {
  const result = await run;
  await orchestrator.idle();
  return result;
}

test("v1.74, module enabled, legacy mode: preview says migration; up migrates then switches; a direct Secret patch is reverted; destroy returns to configurable Unmanaged with the vendor's repository", async () => {
  seedModuleCluster({ mode: "Unmanaged" });
  const orchestrator = startRegistryOrchestrator(kube, { registry });
  try {
    const stack = engine();
    const preview = await stack.preview();
    expect(preview.error).toBeUndefined();
    expect(opOf(preview, "switch-registry-mode")).toBe("create");
    for (const name of LEGACY_RESOURCES) expect([name, opOf(preview, name)]).toEqual([name, undefined]);
    const out = plainOutputs(preview) as { registryPath: string; plan: { registryPath: string; moduleConfig: string[]; secret?: string } };
    expect(out.registryPath).toBe("registry module, legacy Unmanaged mode (no imagesRepo): migrates to the configurable Unmanaged mode first");
    expect(out.plan.moduleConfig[0]).toMatch(/^migrates the registry module from its legacy mode first, as Deckhouse documents it: .*unmanaged\.imagesRepo registry\.deckhouse\.io\/deckhouse\/ee and the scheme, ca and credentials of Secret d8-system\/deckhouse-registry/);
    expect(out.plan.moduleConfig[1]).toContain(`spec.settings.registry.unmanaged to imagesRepo ${target()} (user client; license removed)`);
    expect(out.plan.secret).toBeUndefined();
    expect(orchestrator.switches).toEqual([]);
    expect(registrySettings().registry).toEqual({ mode: "Unmanaged" });
    expect(findPlaintextSecrets(preview, sensitive())).toEqual([]);

    const up = await settled(orchestrator, stack.up());
    expect(up.error).toBeUndefined();
    // the documented order: the current registry as configurable Unmanaged first, then the target
    expect(orchestrator.switches).toEqual([`Unmanaged ${OLD}`, `Unmanaged ${target()}`]);
    expect(registrySettings().registry).toEqual({ mode: "Unmanaged", unmanaged: targetSection() });
    expect(registrySettings().releaseChannel).toBeUndefined();
    expect(registrySecret()).toEqual({ repo: target(), user: "client", password: PASSWORD });
    expect(images()).toEqual(TARGET_IMAGES());
    expect(plainOutputs(up)).toMatchObject({ rolloutReady: true, oldRegistry: OLD });
    expect(up.diagnostics.map((d) => d.message).join("\n")).toContain(`images-copier: migrating the registry module to the configurable Unmanaged mode with the current registry ${OLD}`);
    expect(findPlaintextSecrets(up, sensitive())).toEqual([]);

    // Someone patches deckhouse-registry directly: the module puts it back.
    const secret = kube.get("v1", "Secret", "d8-system", "deckhouse-registry")!;
    kube.put({ ...secret, data: { ...(secret.data as object), address: b64("elsewhere.example") } });
    expect(orchestrator.reverts).toBe(1);
    expect(registrySecret().repo).toBe(target());

    const destroy = await settled(orchestrator, stack.destroy());
    expect(destroy.error).toBeUndefined();
    expect(registrySettings().registry).toEqual({ mode: "Unmanaged", unmanaged: { imagesRepo: OLD, scheme: "HTTPS", license: LICENSE_KEY } });
    expect(orchestrator.switches.at(-1)).toBe(`Unmanaged ${OLD}`);
    expect(registrySecret()).toEqual({ repo: OLD, user: "license-token", password: LICENSE_KEY });
    expect(images()).toEqual(VENDOR_IMAGES());
    expect(registrySettings().releaseChannel).toBe("Stable");
    expect(destroy.state.resources).toEqual([]);
    expect(findPlaintextSecrets(destroy, sensitive())).toEqual([]);
    // every request of the program and its providers was allowed by the switch stack's rules
    expect(kube.requests.filter((r) => r.code === 403).map((r) => `${r.method} ${r.path}`)).toEqual([]);
  } finally {
    orchestrator.stop();
  }
});

test("v1.74 configurable Unmanaged: up writes the target's section (license dropped) and waits for registry-state; up again changes nothing; destroy restores the vendor's section", async () => {
  const vendorSection = { imagesRepo: OLD, license: LICENSE_KEY, scheme: "HTTPS", checkMode: "Default" };
  seedModuleCluster({ mode: "Unmanaged", unmanaged: vendorSection });
  const orchestrator = startRegistryOrchestrator(kube, { registry });
  try {
    const stack = engine();
    const up = await settled(orchestrator, stack.up());
    expect(up.error).toBeUndefined();
    expect(orchestrator.switches).toEqual([`Unmanaged ${target()}`]);
    // checkMode is the operator's and stays
    expect(registrySettings().registry).toEqual({ mode: "Unmanaged", unmanaged: { ...targetSection(), checkMode: "Default" } });
    expect(images()).toEqual(TARGET_IMAGES());
    const out = plainOutputs(up) as { registryPath: string; plan: { moduleConfig: string[] }; rollback: string[] };
    expect(out.registryPath).toBe(`registry module, mode Unmanaged (ModuleConfig deckhouse spec.settings.registry.unmanaged, imagesRepo ${OLD})`);
    expect(out.plan.moduleConfig[0]).toMatch(/^sets ModuleConfig deckhouse spec\.settings\.registry\.unmanaged to imagesRepo/);
    expect(out.rollback[0]).toBe(`ModuleConfig deckhouse spec.settings.registry.unmanaged back to imagesRepo ${OLD} with its credentials as before the switch, mode Unmanaged`);
    expect(findPlaintextSecrets(up, sensitive())).toEqual([]);

    const again = await settled(orchestrator, stack.up());
    expect(again.error).toBeUndefined();
    expect(again.steps.filter((s) => s.op !== "same" && s.op !== "read").map((s) => s.urn)).toEqual([]);
    expect((plainOutputs(again) as typeof out).plan).toEqual(out.plan);
    expect((plainOutputs(again) as typeof out).rollback).toEqual(out.rollback);
    expect(orchestrator.switches).toHaveLength(1);

    const destroy = await settled(orchestrator, stack.destroy());
    expect(destroy.error).toBeUndefined();
    expect(registrySettings().registry).toEqual({ mode: "Unmanaged", unmanaged: vendorSection });
    expect(registrySecret()).toEqual({ repo: OLD, user: "license-token", password: LICENSE_KEY });
    expect(images()).toEqual(VENDOR_IMAGES());
    expect(findPlaintextSecrets(destroy, sensitive())).toEqual([]);
    expect(kube.requests.filter((r) => r.code === 403).map((r) => `${r.method} ${r.path}`)).toEqual([]);
  } finally {
    orchestrator.stop();
  }
});

test("Local mode is refused in one line and nothing changes", async () => {
  seedModuleCluster({ mode: "Local" });
  const before = [registrySettings(), images(), registrySecret()];
  const preview = await engine().preview();
  expect(preview.error).toMatch(/^images-copier: refusing to switch registries: ModuleConfig deckhouse sets registry mode Local \(Deckhouse v1\.74\.3\): .*d8 mirror push.*$/);
  expect(preview.errorDetail).toBe(preview.error);
  expect(preview.steps.filter((s) => s.op !== "read").map((s) => s.type)).toEqual(["pulumi:pulumi:Stack"]);
  expect([registrySettings(), images(), registrySecret()]).toEqual(before);
  expect(findPlaintextSecrets(preview, sensitive())).toEqual([]);
});
