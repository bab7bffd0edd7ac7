// The switch stage under Pulumi's mocks, reading a Deckhouse cluster from the Kubernetes API test server (a
// simulation of the API on 127.0.0.1, not a cluster): what it declares, in which order, with which inputs; the
// plan in plain words; every refusal in preview and in update before anything is declared; the same inputs from
// every half-state of a switch; and no credential in plain text in anything it registers.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ImageNotFoundError, type InspectedCopierImage } from "../../copier";
import type { CopierImageInspector } from "../../components/copier-job/image";
import type { SwitchStageConfig } from "../../stack-config";
import type { RegistryChecker } from "../../components/switch/registry-checks";
import { snapshotProvider } from "../../components/switch/snapshot-provider";
import { makeBashibleProvider } from "../../components/switch/bashible-provider";
import { rolloutProvider } from "../../components/switch/rollout-provider";
import { updatesProvider } from "../../components/switch/updates-provider";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";
import {
  b64,
  LICENSE_KEY,
  plaintextStrings,
  PROXY_PASSWORD,
  PROXY_URL,
  reveal,
  runSwitchStage,
  seedDeckhouseCluster,
  unb64,
  vendorSecretData,
  type DeckhouseClusterSpec,
  type StageRun,
  switchConfig,
} from "../helpers/switch-fixture";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const SOURCE_IMAGE = `${OLD}:v1.46.3`;
const COPIED = `sha256:${"a".repeat(64)}`;
const DIGEST = `sha256:${"d".repeat(64)}`;
const TAG = `${"c".repeat(56)}-1650502544870`;
const NEW = "registry.example.com:5443/client/deckhouse";
const TARGET = `${NEW}:rock-solid-1.46`;
const PASSWORD = 'p"a:ss:w"rd-Target';
const CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----";

// The bundled copier the check would ship: a file whose text must never reach an input.
const work = mkdtempSync(join(tmpdir(), "switch-stage-"));
const BUNDLE = join(work, "images-copier.cjs");
const BUNDLE_TEXT = "/* the bundled copier, as the check's ConfigMap carries it */\n";
const BUNDLE_SHA = createHash("sha256").update(BUNDLE_TEXT).digest("hex");
writeFileSync(BUNDLE, BUNDLE_TEXT);

/** No copier image is read in the target registry unless a test says what it holds. */
const noRegistryRead: CopierImageInspector = async (reference) => {
  throw new Error(`unexpected read of ${reference}`);
};

const record = {
  status: "succeeded",
  verified: true,
  targetImage: TARGET,
  runId: "2",
  sourceImage: SOURCE_IMAGE,
  sourceDigest: COPIED,
  sourceRepository: OLD,
  imagesDigest: `sha256:${"b".repeat(64)}`,
  updateImages: false,
  images: 3,
  copied: 3,
  skipped: 0,
  bytes: 100,
  durationMs: 10,
};

let server: KubeApiServer;
let checks: Array<{ kind: "bearer" | "exists"; args: unknown }>;
let missing: Set<string>;
let basicOnly: boolean;
const checker: RegistryChecker = {
  async bearer(registry, access) {
    checks.push({ kind: "bearer", args: { registry, access } });
    return basicOnly
      ? { registry, ok: false, status: 401, schemes: ["basic"], message: `registry ${registry} answers GET /v2/ with 401 and only "basic" authentication; enable token authentication` }
      : { registry, ok: true, status: 401, schemes: ["bearer"], message: "bearer" };
  },
  async exists(references, access) {
    checks.push({ kind: "exists", args: { references, access } });
    return references.map((reference) => (missing.has(reference) ? { reference, exists: false, error: "manifest unknown" } : { reference, exists: true, digest: reference === TARGET ? COPIED : DIGEST }));
  },
};

function config(overrides: Partial<SwitchStageConfig> = {}): SwitchStageConfig {
  // the schema fills every default, as readStackConfig does for a stack
  return { ...switchConfig({ targetImage: TARGET, targetUsername: "client", targetPassword: PASSWORD, copyStack: "org/images-copier/copy" }), ...overrides };
}


/** The cluster before the switch: Deckhouse v1.46.3 from the vendor, the copied digest running. */
function vendorCluster(): DeckhouseClusterSpec {
  return {
    source: OLD,
    initContainers: [{ name: "init-downloaded-modules", image: `${OLD}@${DIGEST}` }],
    containers: [
      { name: "deckhouse", image: SOURCE_IMAGE },
      { name: "kube-rbac-proxy", image: `${OLD}:${TAG}` },
    ],
    podImageID: `docker-pullable://${OLD}@${COPIED}`,
    releaseChannel: "Stable",
  };
}

function targetSecretData(): Record<string, string> {
  const auths = { auths: { "registry.example.com:5443": { username: "client", password: PASSWORD, auth: b64(`client:${PASSWORD}`) } } };
  return { ".dockerconfigjson": b64(JSON.stringify(auths)), address: b64("registry.example.com:5443"), path: b64("/client/deckhouse"), scheme: b64("https") };
}

async function run(
  cluster: DeckhouseClusterSpec,
  opts: { preview?: boolean; config?: SwitchStageConfig; copy?: unknown; recorded?: Record<string, Record<string, any>>; inspect?: CopierImageInspector } = {},
): Promise<StageRun> {
  seedDeckhouseCluster(server, cluster);
  return runSwitchStage(opts.config ?? config(), "copy" in opts ? opts.copy : record, {
    preview: opts.preview,
    recorded: opts.recorded,
    deps: { checker, kube: { kubeconfig: server.kubeconfigYaml }, copierBundlePath: BUNDLE, inspectCopierImage: opts.inspect ?? noRegistryRead },
  });
}

const customResources = (r: StageRun) => r.registered.filter((x) => !x.type.startsWith("pulumi:pulumi:") && !x.type.startsWith("images-copier:index:SwitchStage"));

beforeAll(async () => {
  server = await startKubeApiServer();
});

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  checks = [];
  missing = new Set();
  basicOnly = false;
});

describe("switch stage: what it declares", () => {
  it.each([["preview", true], ["update", false]])("declares every resource in %s, with known inputs, in the safe order", async (_mode, preview) => {
    const r = await run(vendorCluster(), { preview });
    expect(customResources(r).map((x) => x.type).sort()).toEqual([
      "kubernetes:apps/v1:DeploymentPatch",
      "kubernetes:core/v1:SecretPatch",
      "pulumi-nodejs:dynamic/images-copier:BashibleApplied",
      "pulumi-nodejs:dynamic/images-copier:DeckhouseRollout",
      "pulumi-nodejs:dynamic/images-copier:DeckhouseUpdates",
      "pulumi-nodejs:dynamic/images-copier:SwitchSnapshot",
    ]);
    expect(r.resource("DeploymentPatch").inputs.spec.template.spec.containers[0]).toEqual({ name: "deckhouse", image: TARGET });
    expect(r.resource(":DeckhouseUpdates").inputs).toMatchObject({ mode: "disable", home: "ModuleConfig", channel: "Stable" });
    const names = (deps: unknown) => ((deps ?? []) as Array<{ __name: string }>).map((d) => d.__name.replace(/^switch\d+-/, ""));
    expect(names(r.options(":DeckhouseUpdates").dependsOn)).toEqual([]);
    expect(names(r.options(":SwitchSnapshot").dependsOn)).toEqual(["updates"]);
    expect(names(r.options("SecretPatch").dependsOn)).toEqual(["rollback"]);
    expect(names(r.options("DeploymentPatch").dependsOn)).toEqual(["rollback", "deckhouse-registry"]);
    expect(names(r.options(":DeckhouseRollout").dependsOn)).toEqual(["deckhouse"]);
    expect(names(r.options(":BashibleApplied").dependsOn)).toEqual(["rollout"]);
    // no NodeGroups in this cluster: read as such before anything changed, the wait for master by default
    expect(r.resource(":BashibleApplied").inputs).toMatchObject({ scope: "master", timeoutMinutes: 30, before: { present: false, checksums: {} }, beforeOnOldRegistry: true });
    expect(r.options("SecretPatch").retainOnDelete).toBe(true);
    expect(r.options("DeploymentPatch").retainOnDelete).toBe(true);
    // the registry was checked once, with the stack's credentials, before anything was declared
    expect(checks.map((c) => c.kind).sort()).toEqual(["bearer", "exists"]);
    expect((checks.find((c) => c.kind === "exists")?.args as { access: { password: string } }).access.password).toBe(PASSWORD);
  });

  it("re-points the copied repository's images, keeping tag or digest; a third-party sidecar is neither patched nor checked", async () => {
    const cluster = vendorCluster();
    cluster.containers.push({ name: "istio-proxy", image: "docker.io/istio/proxyv2:1.19.0" });
    const r = await run(cluster);
    expect(r.resource("DeploymentPatch").inputs.metadata).toEqual({
      name: "deckhouse",
      namespace: "d8-system",
      annotations: { "pulumi.com/patchForce": "true", "pulumi.com/patchFieldManager": "images-copier-switch", "pulumi.com/skipAwait": "true" },
    });
    expect(r.resource("DeploymentPatch").inputs.spec.template.spec).toEqual({
      initContainers: [{ name: "init-downloaded-modules", image: `${NEW}@${DIGEST}` }],
      containers: [
        { name: "deckhouse", image: TARGET },
        { name: "kube-rbac-proxy", image: `${NEW}:${TAG}` },
      ],
    });
    expect((checks.find((c) => c.kind === "exists")?.args as { references: string[] }).references).toEqual([`${NEW}@${DIGEST}`, TARGET, `${NEW}:${TAG}`]);
    expect(r.outputs?.deckhouseImage).toEqual({ from: SOURCE_IMAGE, to: TARGET });
  });

  it("patches the Secret with the exact keys; a password with quotes and colons survives; the data is secret", async () => {
    const r = await run({ ...vendorCluster(), secretData: { ...vendorSecretData(OLD), imagesRegistry: b64(OLD), ca: b64("old ca"), clusterIsBootstrapped: b64("true") } }, { config: config({ targetCA: CA }) });
    const patch = r.resource("SecretPatch");
    expect(patch.inputs.metadata).toEqual({ name: "deckhouse-registry", namespace: "d8-system", annotations: { "pulumi.com/patchForce": "true", "pulumi.com/patchFieldManager": "images-copier-switch" } });
    const [data, dataIsSecret] = reveal(patch.inputs.data);
    expect(dataIsSecret).toBe(true);
    expect(Object.fromEntries(Object.entries(data as Record<string, string>).filter(([k]) => k !== ".dockerconfigjson").map(([k, v]) => [k, unb64(v)]))).toEqual({
      address: "registry.example.com:5443",
      path: "/client/deckhouse",
      scheme: "https",
      ca: CA,
      imagesRegistry: NEW,
    });
    expect(JSON.parse(unb64(data[".dockerconfigjson"])).auths).toEqual({ "registry.example.com:5443": { username: "client", password: PASSWORD, auth: b64(`client:${PASSWORD}`) } });
    // the rollback capture: the old values of exactly the written keys, as a secret
    const [captured, capturedIsSecret] = reveal(r.resource(":SwitchSnapshot").inputs.secret);
    expect(capturedIsSecret).toBe(true);
    expect(Object.keys(captured.data).sort()).toEqual([".dockerconfigjson", "address", "ca", "imagesRegistry", "path", "scheme"]);
    expect(captured.data.ca).toBe(b64("old ca"));
  });

  it("with kubeImpersonate, patches Deckhouse's objects through one explicit provider whose user impersonates it; its kubeconfig is a secret", async () => {
    seedDeckhouseCluster(server, vendorCluster());
    const deps = { checker, copierBundlePath: BUNDLE, inspectCopierImage: noRegistryRead };
    const r = await runSwitchStage(config({ kubeImpersonate: "system:sudouser" }), record, { deps: { ...deps, kube: { kubeconfig: server.kubeconfigYaml, impersonate: "system:sudouser" } } });
    // the gate proved the writes first, as dry runs: the Deckhouse objects' patches as system:sudouser, the ModuleConfig's as the user
    const proofs = server.requests.filter((q) => q.dryRun).slice(-3).map((q) => `${q.method} ${q.path} ${q.contentType} ${q.user}${q.impersonatedBy ? ` by ${q.impersonatedBy}` : ""}`);
    expect(proofs).toEqual([
      "PATCH /apis/deckhouse.io/v1alpha1/moduleconfigs/deckhouse application/merge-patch+json kubernetes-admin",
      "PATCH /api/v1/namespaces/d8-system/secrets/deckhouse-registry application/apply-patch+yaml system:sudouser by kubernetes-admin",
      "PATCH /apis/apps/v1/namespaces/d8-system/deployments/deckhouse application/apply-patch+yaml system:sudouser by kubernetes-admin",
    ]);
    const provider = r.resource("pulumi:providers:kubernetes");
    const [kubeconfig, isSecret] = reveal(provider.inputs.kubeconfig);
    expect(isSecret).toBe(true);
    const parsed = JSON.parse(kubeconfig as string);
    expect(parsed.users).toEqual([{ name: "test", user: { token: server.token, as: "system:sudouser" } }]);
    expect(parsed.clusters.map((c: { cluster: { server: string } }) => c.cluster.server)).toEqual([server.url]);
    const secretProvider = r.options("SecretPatch").provider as unknown as { __name: string };
    expect(secretProvider.__name).toMatch(/-deckhouse-writer$/);
    expect(r.options("DeploymentPatch").provider).toBe(secretProvider);
    // the dynamic resources get their access (and kubeImpersonate) from the stack config, never from an input
    for (const type of [":SwitchSnapshot", ":DeckhouseRollout", ":DeckhouseUpdates"]) {
      const { __provider: _code, ...inputs } = r.resource(type).inputs;
      expect(JSON.stringify(inputs)).not.toContain("sudouser");
    }

    // impersonation off (kubeImpersonate ""): the default provider, as before
    const off = await runSwitchStage(config({ kubeImpersonate: "" }), record, { deps: { ...deps, kube: { kubeconfig: server.kubeconfigYaml } } });
    expect(off.registered.filter((x) => x.type.startsWith("pulumi:providers:"))).toEqual([]);
    expect(off.options("SecretPatch").provider).toBeUndefined();
  });

  it("tells the plan in plain words: release, registry, what is re-pointed, the Secret, the release channel, the checks, the rollback", async () => {
    const { outputs } = await run(vendorCluster(), { preview: true });
    expect(outputs?.plan).toEqual({
      release: `Deckhouse v1.46.3 (${COPIED}), image ${SOURCE_IMAGE}, copied by run 2 of copy stack org/images-copier/copy; the Deckhouse running now is that release`,
      registry: `from ${OLD} to ${NEW} (https, user client)`,
      repoint: [
        `init container init-downloaded-modules: ${OLD}@${DIGEST} -> ${NEW}@${DIGEST}`,
        `container deckhouse: ${SOURCE_IMAGE} -> ${TARGET}`,
        `container kube-rbac-proxy: ${OLD}:${TAG} -> ${NEW}:${TAG}`,
      ],
      secret: "d8-system/deckhouse-registry: .dockerconfigjson (user client at registry.example.com:5443), address registry.example.com:5443, path /client/deckhouse, scheme https; other keys untouched",
      releaseChannel: "removes releaseChannel Stable from ModuleConfig deckhouse (spec.settings.releaseChannel): Deckhouse takes no updates from the new registry (updates: disable)",
      checks: `passed from here, before any change: registry.example.com:5443 asks for Bearer tokens, 3 image(s) present, the target image is ${COPIED}`,
      registryPath: "legacy: no registry module owns the registry; Secret d8-system/deckhouse-registry and Deployment d8-system/deckhouse are patched, as change-registry does",
    });
    expect(outputs?.registryPath).toBe("legacy (Secret d8-system/deckhouse-registry; Deckhouse v1.46.3 has no registry module (from v1.72))");
    expect(outputs?.rollback).toEqual([
      `d8-system/deckhouse-registry: the keys this switch writes, back to their values before the switch (registry ${OLD})`,
      `init container init-downloaded-modules: ${OLD}@${DIGEST}`,
      `container deckhouse: ${SOURCE_IMAGE}`,
      `container kube-rbac-proxy: ${OLD}:${TAG}`,
      "then waits for the Deckhouse rollout",
      "releaseChannel Stable, after the registry",
    ]);
  });

  it("restartOldRegistryWorkloads reaches DeckhouseRollout and the preview says what it restarts", async () => {
    const logged: string[] = [];
    const log = jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
    try {
      const r = await run(vendorCluster(), { config: config({ restartOldRegistryWorkloads: "istio" }), preview: true });
      expect(r.resource(":DeckhouseRollout").inputs.restartOldRegistryWorkloads).toBe("istio");
      expect(logged).toContain(
        `info: [runtime] images-copier: after the rollout, pods still on ${OLD} are listed by owner (output oldRegistryWorkloads); those with istio sidecars are restarted (restartOldRegistryWorkloads: istio), through the pod template's kubectl.kubernetes.io/restartedAt, never Deckhouse's own workloads`,
      );
      expect(r.outputs?.oldRegistryWorkloads).toEqual([]);
    } finally {
      log.mockRestore();
    }
  });
});

describe("switch stage: updates", () => {
  it("keeps the channel when the copy included the update images, and checks release-channel:<channel> in the target", async () => {
    const r = await run({ ...vendorCluster(), releaseChannel: "EarlyAccess" }, { copy: { ...record, updateImages: true, deckhouseVersion: "v1.46.3+ee" } });
    expect(r.outputs?.plan.release).toMatch(/^Deckhouse v1\.46\.3\+ee \(sha256:a{64}\)/);
    expect(r.resource(":DeckhouseUpdates").inputs).toMatchObject({ mode: "keep", channel: "EarlyAccess" });
    expect((checks.find((c) => c.kind === "exists")?.args as { references: string[] }).references).toContain(`${NEW}/release-channel:early-access`);
    expect(r.outputs?.plan.releaseChannel).toBe(`keeps releaseChannel EarlyAccess in ModuleConfig deckhouse (spec.settings.releaseChannel): Deckhouse will look for ${NEW}/release-channel:early-access in the new registry (checked)`);
  });

  it("refuses `updates: keep` when the target lacks the release-channel image, saying what to do", async () => {
    missing.add(`${NEW}/release-channel:stable`);
    const r = await run(vendorCluster(), { config: config({ updates: "keep" }), preview: true });
    expect(r.refusal?.message).toMatch(/1 of 4 image\(s\) are not in the target registry: .*release-channel:stable \(manifest unknown\); .* copy with copyUpdateImages true, or set updates to disable$/);
  });

  it("finds the channel in ConfigMap d8-system/deckhouse on releases before ModuleConfig", async () => {
    const r = await run({ ...vendorCluster(), releaseChannel: null, configMapYaml: "releaseChannel: RockSolid\nbundle: Default\n" });
    expect(r.resource(":DeckhouseUpdates").inputs).toMatchObject({ mode: "disable", home: "ConfigMap", channel: "RockSolid" });
    expect(r.outputs?.plan.releaseChannel).toMatch(/^removes releaseChannel RockSolid from ConfigMap d8-system\/deckhouse/);
  });
});

describe("switch stage: refusals, in preview and in update, before anything is declared", () => {
  const newer = `${OLD}:v1.47.0`;
  const refusals: Array<[string, (c: DeckhouseClusterSpec) => { copy?: unknown; config?: SwitchStageConfig } | void, RegExp]> = [
    ["no copy output", () => ({ copy: undefined }), /copy stack "org\/images-copier\/copy" has no "copy" output/],
    ["a failed copy", () => ({ copy: { ...record, status: "failed" } }), /reports copy status "failed"/],
    ["an older copy stack's record", () => ({ copy: { status: "succeeded", verified: true, targetImage: TARGET } }), /comes from an older copy stack: .* lacks sourceImage, sourceDigest, sourceRepository, imagesDigest, .*; run the copy stack again \(change runId/],
    ["Deckhouse updated to another release", (c) => void ((c.containers[0].image = newer), (c.podImageID = `${OLD}@sha256:${"e".repeat(64)}`)), new RegExp(`Deckhouse now runs "${newer}", but the copy stack copied "${SOURCE_IMAGE}" \\(${COPIED}\\)`)],
    ["the same tag now another digest", (c) => void (c.podImageID = `${OLD}@sha256:${"e".repeat(64)}`), /pod d8-system\/deckhouse-6f7d9c-x2k4p runs Deckhouse sha256:e{64}, but the copy stack copied/],
    ["a registry without Bearer tokens", () => void (basicOnly = true), /answers GET \/v2\/ with 401 and only "basic" authentication/],
    ["a missing image", () => void missing.add(`${NEW}:${TAG}`), new RegExp(`1 of 3 image\\(s\\) are not in the target registry: ${NEW.replace(/\./g, "\\.")}:${TAG} \\(manifest unknown\\)`)],
    ["the release under its original tag missing in the target (Deckhouse renders it after the switch)", () => (missing.add(`${NEW}:v1.46.3`), { copy: { ...record, originalTagImage: `${NEW}:v1.46.3` } }), new RegExp(`1 of 4 image\\(s\\) are not in the target registry: ${NEW.replace(/\./g, "\\.")}:v1\\.46\\.3 \\(manifest unknown\\)`)],
    ["an untagged image in the copied repository", (c) => void c.containers.push({ name: "sidecar", image: OLD }), /container "sidecar": image "registry\.deckhouse\.io\/deckhouse\/ee" is in the registry repository .* has neither a tag nor a digest/],
  ];
  for (const preview of [true, false]) {
    for (const [what, arrange, message] of refusals) {
      it(`${preview ? "preview" : "update"}: ${what}`, async () => {
        const cluster = vendorCluster();
        const overrides = arrange(cluster) ?? {};
        const r = await run(cluster, { preview, ...overrides });
        expect(r.refusal?.message).toMatch(message);
        expect(r.refusal?.message).toMatch(/^images-copier: refusing to switch: [^\n]+$/);
        expect(customResources(r)).toEqual([]);
      });
    }
  }

  it.each([["preview", true], ["update", false]])("%s: the cluster refuses a write's dry run: one line naming the object, the identity and the server's message; nothing declared or changed", async (_mode, preview) => {
    const undo = server.rejectRequests({ method: "PATCH", kind: "Deployment" }, 403, "Forbidden", 'deployments.apps "deckhouse" is forbidden: denied by a test policy');
    try {
      const from = server.requests.length;
      const r = await run(vendorCluster(), { preview });
      expect(r.refusal?.message).toMatch(/^images-copier: refusing to switch: the cluster refuses to patch Deployment d8-system\/deckhouse as the kubeconfig's user "test": deployments\.apps "deckhouse" is forbidden: denied by a test policy \(403, server-side dry run; nothing changed\)\. To fix: [^\n]+$/);
      expect(customResources(r)).toEqual([]);
      // only reads and dry runs reached the server
      expect(server.requests.slice(from).filter((q) => q.method !== "GET" && !q.dryRun)).toEqual([]);
      expect(server.get("apps/v1", "Deployment", "d8-system", "deckhouse")?.spec).toMatchObject({ template: { spec: { containers: [{ name: "deckhouse", image: SOURCE_IMAGE }, { name: "kube-rbac-proxy" }] } } });
    } finally {
      undo();
    }
  });

  it("refuses when the cluster keeps its registry another way than the copy read it (now Direct; the copy read the legacy Secret)", async () => {
    seedDeckhouseCluster(server, vendorCluster());
    const mc = server.get("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse") as KubeObject & { spec: { settings: Record<string, unknown> } };
    server.put({ ...mc, spec: { ...mc.spec, settings: { ...mc.spec.settings, registry: { mode: "Direct", direct: { imagesRepo: OLD, license: "the-license" } } } } });
    server.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "Module", metadata: { name: "registry" }, status: { conditions: [{ type: "EnabledByModuleManager", status: "True" }] } });
    // a release with the registry module (the fixture's Deployment says no version)
    const deployment = server.get("apps/v1", "Deployment", "d8-system", "deckhouse") as KubeObject;
    server.put({ ...deployment, metadata: { ...deployment.metadata, annotations: { ...(deployment.metadata.annotations as Record<string, string> | undefined), "core.deckhouse.io/version": "v1.75.3" } } });
    try {
      const r = await runSwitchStage(config(), { ...record, registryPath: "legacy" }, { preview: true, deps: { checker, kube: { kubeconfig: server.kubeconfigYaml } } });
      expect(r.refusal?.message).toMatch(/^images-copier: refusing to switch: the copy read the vendor's registry from the legacy Secret d8-system\/deckhouse-registry, but the cluster now keeps it in registry mode Direct of ModuleConfig deckhouse; [^\n]+$/);
      expect(r.refusal?.message).not.toContain("the-license");
      expect(customResources(r)).toEqual([]);
    } finally {
      server.remove("deckhouse.io/v1alpha1", "Module", "", "registry");
      server.remove("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse");
    }
  });

  it("refuses when the cluster cannot be read, in one line, without the kubeconfig's token", async () => {
    seedDeckhouseCluster(server, vendorCluster());
    const broken = server.kubeconfigYaml.replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:9");
    const r = await runSwitchStage(config(), record, { deps: { checker, kube: { kubeconfig: broken } } });
    expect(r.refusal?.message).toMatch(/^images-copier: refusing to switch: cannot read the cluster: [^\n]*ECONNREFUSED/);
    expect(r.refusal?.message).not.toContain(server.token);
    expect(customResources(r)).toEqual([]);
  });
});

describe("switch stage: from every half-state to the same switch", () => {
  /** The inputs that decide each resource's diff, __provider text included. */
  const comparable = (r: StageRun) =>
    Object.fromEntries(
      customResources(r).map((x) => {
        // captured values (kept by their resources from the first create on, whatever a later run reads)
        const { secret: _captured, secretRestorable: _restorable, channel: _channel, before: _before, beforeOnOldRegistry: _onOld, ...inputs } = reveal(x.inputs)[0];
        return [x.type, inputs];
      }),
    );

  it("reads the old repository from the copy record, not from a Secret that already points at the new registry", async () => {
    const fresh = await run(vendorCluster());
    const halfway = await run({ ...vendorCluster(), secretData: targetSecretData() });
    expect(comparable(halfway)).toEqual(comparable(fresh));
    expect(halfway.outputs?.oldRegistry).toBe(OLD);
    expect(halfway.resource("DeploymentPatch").inputs.spec.template.spec.containers).toEqual([{ name: "deckhouse", image: TARGET }, { name: "kube-rbac-proxy", image: `${NEW}:${TAG}` }]);
  });

  it("completes a Deployment that was partly re-pointed", async () => {
    const fresh = await run(vendorCluster());
    const partly = vendorCluster();
    partly.containers[1].image = `${NEW}:${TAG}`;
    const r = await run({ ...partly, secretData: targetSecretData() });
    expect(comparable(r)).toEqual(comparable(fresh));
  });

  it("gives a fully switched cluster the same inputs, and every dynamic provider finds no change", async () => {
    const fresh = await run(vendorCluster());
    const switched: DeckhouseClusterSpec = {
      source: OLD,
      initContainers: [{ name: "init-downloaded-modules", image: `${NEW}@${DIGEST}` }],
      containers: [
        { name: "deckhouse", image: TARGET },
        { name: "kube-rbac-proxy", image: `${NEW}:${TAG}` },
      ],
      podImageID: `${NEW}@${COPIED}`,
      secretData: targetSecretData(),
      releaseChannel: undefined,
    };
    const again = await run(switched);
    expect(comparable(again)).toEqual(comparable(fresh));
    // The engine diffs a dynamic resource with its provider: olds = the first run's outputs, news = this run's inputs.
    const providers = { ":SwitchSnapshot": snapshotProvider, ":DeckhouseRollout": rolloutProvider, ":DeckhouseUpdates": updatesProvider, ":BashibleApplied": makeBashibleProvider() };
    const recorded: Record<string, Record<string, any>> = {};
    for (const [suffix, provider] of Object.entries(providers)) {
      const olds = reveal(fresh.resource(suffix).state)[0];
      const news = reveal(again.resource(suffix).inputs)[0];
      expect([suffix, (await provider.diff("id", olds, news)).changes]).toEqual([suffix, false]);
      recorded[fresh.resource(suffix).type] = fresh.resource(suffix).state;
    }
    // No change, so the engine answers with the recorded outputs: the plan reads the same words as the first time.
    const answered = await run(switched, { recorded });
    expect(answered.outputs?.plan).toEqual(fresh.outputs?.plan);
    expect(answered.outputs?.rollback).toEqual(fresh.outputs?.rollback);
  });

  it("says plainly when the Secret already pointed at the new registry at the first capture: destroy then moves nothing back", async () => {
    const r = await run({ ...vendorCluster(), secretData: targetSecretData() });
    expect(r.resource(":SwitchSnapshot").inputs.secretRestorable).toBe(false);
    expect(r.outputs?.rollback[0]).toMatch(/^nothing of the registry: the deckhouse-registry Secret already pointed at the new registry/);
  });
});

describe("switch stage: checks from the cluster", () => {
  const RUN_KEY = "images-copier.deckhouse.io/run-key";
  const named = (r: StageRun, name: string) => {
    const found = r.registered.filter((x) => x.name === name);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const dependsOn = (r: StageRun, suffix: string) => ((r.options(suffix).dependsOn ?? []) as unknown as Array<{ __name: string }>).map((d) => d.__name.replace(/^switch\d+-/, ""));
  const uidOf = (x: { state: Record<string, any> }, preview: boolean, uid: unknown) => (preview ? expect(pulumi.isUnknown(uid)).toBe(true) : expect(uid).toBe(x.state.metadata?.uid ?? x.state.uid));

  it.each([["preview", true], ["update", false]])("%s: the check's Secret and the copier's ConfigMap (by path and digest) come first, then ClusterCheck with the Job; no bundle text, no credential in its inputs", async (_mode, preview) => {
    const r = await run(vendorCluster(), { preview, config: config({ checkFrom: "cluster" }) });
    expect(checks).toEqual([]);
    const names = (prefix: string) => r.registered.filter((x) => x.name.startsWith(prefix)).map((x) => `${x.type} ${x.name.replace(/^switch\d+-/, "")}`);
    expect(names("switch").filter((n) => n.includes(" check")).sort()).toEqual([
      "kubernetes:core/v1:Secret check-config",
      "pulumi-nodejs:dynamic/images-copier:ClusterCheck check",
      "pulumi-nodejs:dynamic:CopierBundle check-bundle",
    ]);
    const secret = r.registered.find((x) => x.type === "kubernetes:core/v1:Secret")!;
    const runKey = secret.inputs.metadata.annotations[RUN_KEY];
    expect(secret.inputs.metadata).toEqual({ name: "images-copier-check-config", namespace: "d8-system", labels: { "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier-check" }, annotations: { [RUN_KEY]: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) } });
    expect(secret.inputs).toMatchObject({ type: "Opaque", immutable: true });
    const [data, dataIsSecret] = reveal(secret.inputs.data);
    expect(dataIsSecret).toBe(true);
    expect(Object.fromEntries(Object.entries(data as Record<string, string>).map(([k, v]) => [k, unb64(v)]))).toEqual({
      "dest-repo.json": JSON.stringify({ username: "client", password: PASSWORD, insecure: false, image: TARGET }),
      "proxy.HTTPS_PROXY": PROXY_URL,
      "proxy.NO_PROXY": ".cluster.local",
    });

    const bundle = r.resource(":CopierBundle");
    expect(reveal(bundle.inputs)[0]).toEqual({
      namespace: "d8-system",
      configMapName: `images-copier-check-bundle-${BUNDLE_SHA.slice(0, 12)}`,
      path: BUNDLE,
      sha256: BUNDLE_SHA,
      bytes: Buffer.byteLength(BUNDLE_TEXT),
      labels: { "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier-check" },
      runKey,
      secretUid: bundle.inputs.secretUid,
      __provider: expect.any(String),
    });
    uidOf(secret, preview, bundle.inputs.secretUid);

    const check = r.resource(":ClusterCheck");
    expect(check.inputs).toMatchObject({ namespace: "d8-system", timeoutSeconds: 300, expectations: { references: [`${NEW}@${DIGEST}`, TARGET, `${NEW}:${TAG}`], targetImage: TARGET, sourceDigest: COPIED } });
    const job = check.inputs.job;
    expect(job.metadata).toEqual({ name: "images-copier-check", namespace: "d8-system", labels: { "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier-check" }, annotations: { [RUN_KEY]: runKey } });
    const pod = job.spec.template.spec;
    expect(pod.containers[0]).toMatchObject({
      name: "copier",
      image: "node:20-bookworm-slim",
      command: ["node", "/opt/images-copier/images-copier.cjs", "check", "--config-dir", "/config", "--image", `${NEW}@${DIGEST}`, "--image", TARGET, "--image", `${NEW}:${TAG}`],
      // the proxy values come from the check's Secret: the Job holds no proxy password
      env: [
        { name: "HOME", value: "/tmp" },
        { name: "NODE_ENV", value: "production" },
        { name: "HTTPS_PROXY", valueFrom: { secretKeyRef: { name: "images-copier-check-config", key: "proxy.HTTPS_PROXY" } } },
        { name: "NO_PROXY", valueFrom: { secretKeyRef: { name: "images-copier-check-config", key: "proxy.NO_PROXY" } } },
      ],
    });
    expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }]);
    expect(pod.volumes).toEqual([
      { name: "config", secret: { secretName: "images-copier-check-config", defaultMode: 0o400, items: [{ key: "dest-repo.json", path: "dest-repo.json" }] } },
      { name: "copier", configMap: { name: `images-copier-check-bundle-${BUNDLE_SHA.slice(0, 12)}`, defaultMode: 0o444 } },
      { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
    ]);
    // the Job names the objects it was made for; ClusterCheck removes exactly those after a passed check
    const annotations = job.spec.template.metadata.annotations;
    uidOf(secret, preview, annotations["images-copier.deckhouse.io/config-uid"]);
    uidOf(bundle, preview, annotations["images-copier.deckhouse.io/bundle-uid"]);
    expect(check.inputs.objects.map((o: { resource: string; name: string }) => `${o.resource}/${o.name}`)).toEqual(["secrets/images-copier-check-config", `configmaps/images-copier-check-bundle-${BUNDLE_SHA.slice(0, 12)}`]);

    for (const x of r.registered) expect(JSON.stringify(x.inputs)).not.toContain("the bundled copier");
    expect(JSON.stringify(check.inputs)).not.toContain(PASSWORD);
    expect(JSON.stringify(check.inputs)).not.toContain(PROXY_PASSWORD);
    expect(r.options("Secret").deleteBeforeReplace).toBe(true);
    expect(r.options("Secret").replaceOnChanges).toEqual(["*"]);
    expect(dependsOn(r, ":DeckhouseUpdates")).toEqual(["check"]);
    expect(r.outputs?.plan.checks).toBe(`will run in the cluster, as Job d8-system/images-copier-check, before any change: Bearer token auth of registry.example.com:5443 and 3 image(s) present (the target image as ${COPIED})`);
    expect(r.outputs?.copierImage).toEqual({ image: "node:20-bookworm-slim", configured: "node:20-bookworm-slim", copier: "configmap" });
  });

  it("with copierBundled: no ConfigMap and no bundle read, the image's own copier runs", async () => {
    const r = await run(vendorCluster(), { config: config({ checkFrom: "cluster", copierBundled: true, copierImage: "registry.tools.example/tools/images-copier:0.1.0" }), inspect: noRegistryRead });
    expect(r.registered.filter((x) => x.type.endsWith(":CopierBundle"))).toEqual([]);
    const pod = r.resource(":ClusterCheck").inputs.job.spec.template.spec;
    expect(pod.containers[0].image).toBe("registry.tools.example/tools/images-copier:0.1.0");
    expect(pod.volumes.map((v: { name: string }) => v.name)).toEqual(["config", "tmp"]);
    expect(r.resource(":ClusterCheck").inputs.objects.map((o: { name: string }) => o.name)).toEqual(["images-copier-check-config"]);
  });

  it("the copy Job's placement keys place the check Job's pod too; ClusterCheck gets unschedulableMinutes", async () => {
    const placement = { jobNodeSelector: { "node-role.deckhouse.io/system": "" }, jobTolerations: [{ operator: "Exists" as const }], jobPriorityClassName: "copier-high", unschedulableMinutes: 2 };
    const r = await run(vendorCluster(), { config: config({ checkFrom: "cluster", ...placement }) });
    const check = r.resource(":ClusterCheck").inputs;
    expect(check.job.spec.template.spec).toMatchObject({ nodeSelector: placement.jobNodeSelector, tolerations: placement.jobTolerations, priorityClassName: "copier-high" });
    expect(check.unschedulableMinutes).toBe(2);
  });

  describe("a copierImage published into the target registry", () => {
    const PUBLISHED = "registry.example.com:5443/tools/images-copier";
    const PINNED_DIGEST = `sha256:${"1".repeat(64)}`;
    const BUNDLE_DIGEST = `sha256:${"2".repeat(64)}`;
    const published: InspectedCopierImage = {
      pinned: `${PUBLISHED}@${PINNED_DIGEST}`,
      digest: PINNED_DIGEST,
      mediaType: "application/vnd.oci.image.index.v1+json",
      platforms: [{ platform: "linux/amd64", digest: `sha256:${"3".repeat(64)}`, labels: { "io.deckhouse.images-copier.bundle-digest": BUNDLE_DIGEST, "io.deckhouse.images-copier.version": "0.1.0" } }],
      copier: { bundleDigest: BUNDLE_DIGEST, version: "0.1.0" },
    };
    let logged: string[] = [];
    beforeEach(() => {
      logged = [];
      // Without an engine, the SDK's mocks print pulumi.log lines with console.log.
      jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
    });
    afterEach(() => jest.restoreAllMocks());

    it.each([["preview", true], ["update", false]])("%s: read with the target credentials, pinned by digest, pulled with the check's pull Secret, run with its own copier", async (_mode, preview) => {
      const reads: Array<{ reference: string; access: Parameters<CopierImageInspector>[1] }> = [];
      const inspect: CopierImageInspector = async (reference, access) => (reads.push({ reference, access }), published);
      const r = await run(vendorCluster(), { preview, config: config({ checkFrom: "cluster", copierImage: `${PUBLISHED}:0.1.0` }), inspect });
      expect(reads).toEqual([{ reference: `${PUBLISHED}:0.1.0`, access: expect.objectContaining({ username: "client", password: PASSWORD, insecure: false }) }]);
      expect(r.registered.filter((x) => x.type.endsWith(":CopierBundle"))).toEqual([]);

      const pull = r.registered.find((x) => x.type === "kubernetes:core/v1:Secret" && x.inputs.metadata.name === "images-copier-check-registry")!;
      const runKey = r.registered.find((x) => x.inputs.metadata?.name === "images-copier-check-config")!.inputs.metadata.annotations[RUN_KEY];
      expect(pull.inputs.metadata).toMatchObject({ namespace: "d8-system", labels: { app: "d8-images-copier-check" }, annotations: { [RUN_KEY]: runKey } });
      expect(pull.inputs).toMatchObject({ type: "kubernetes.io/dockerconfigjson", immutable: true });
      const [data, dataIsSecret] = reveal(pull.inputs.data);
      expect(dataIsSecret).toBe(true);
      expect(JSON.parse(unb64(data[".dockerconfigjson"]))).toEqual({ auths: { "registry.example.com:5443": { username: "client", password: PASSWORD, auth: b64(`client:${PASSWORD}`) } } });
      expect(named(r, pull.name).name).toMatch(/-check-registry$/);

      const check = r.resource(":ClusterCheck");
      const pod = check.inputs.job.spec.template.spec;
      expect(pod.containers[0].image).toBe(`${PUBLISHED}@${PINNED_DIGEST}`);
      expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }, { name: "images-copier-check-registry" }]);
      expect(pod.volumes.map((v: { name: string }) => v.name)).toEqual(["config", "tmp"]);
      uidOf(pull, preview, check.inputs.job.spec.template.metadata.annotations["images-copier.deckhouse.io/pull-secret-uid"]);
      expect(check.inputs.objects.map((o: { resource: string; name: string }) => `${o.resource}/${o.name}`)).toEqual(["secrets/images-copier-check-config", "secrets/images-copier-check-registry"]);
      expect(r.outputs?.copierImage).toEqual({ image: `${PUBLISHED}@${PINNED_DIGEST}`, configured: `${PUBLISHED}:0.1.0`, copier: "image-label", bundleDigest: BUNDLE_DIGEST, version: "0.1.0", pullSecret: "images-copier-check-registry" });
      expect(logged.find((l) => l.includes("the check Job runs"))).toContain(
        `images-copier: the check Job runs ${PUBLISHED}@${PINNED_DIGEST} (${PUBLISHED}:0.1.0 pinned by digest) with the image's own copier (label io.deckhouse.images-copier.bundle-digest=${BUNDLE_DIGEST}, version 0.1.0`,
      );
      expect(logged.find((l) => l.includes("the check Job runs"))).toContain("pulled with Secret d8-system/images-copier-check-registry (the target credentials)");
    });

    it.each([["preview", true], ["update", false]])("%s: a tag the target registry lacks is refused in one line, before anything is declared", async (_mode, preview) => {
      const missing = `${PUBLISHED}:9.9.9`;
      const inspect: CopierImageInspector = async () => {
        throw new ImageNotFoundError(`${missing}: the registry has no such image (MANIFEST_UNKNOWN)`);
      };
      const r = await run(vendorCluster(), { preview, config: config({ checkFrom: "cluster", copierImage: missing }), inspect });
      expect(r.refusal?.message).toBe(
        `images-copier: copierImage ${missing} is not in the target registry; publish it there first: npx images-copier publish-image --target ${missing} (then set copierImage to the reference it prints, or keep the tag)`,
      );
      expect(r.registered.map((x) => x.type)).toEqual([]);
    });
  });

  it("a change of what is checked or of the copier's build gives another run key (so its objects are replaced with it); the same inputs the same", async () => {
    const key = async (overrides: Partial<SwitchStageConfig>, copied = COPIED) =>
      (await run({ ...vendorCluster(), podImageID: `docker-pullable://${OLD}@${copied}` }, { config: config({ checkFrom: "cluster", ...overrides }), copy: { ...record, sourceDigest: copied } })).registered.find(
        (x) => x.inputs.metadata?.name === "images-copier-check-config",
      )!.inputs.metadata.annotations[RUN_KEY];
    const base = await key({});
    expect(await key({})).toBe(base);
    // the password goes into the Secret's data (its change replaces the Secret): not into the key
    expect(await key({ targetPassword: "rotated" })).toBe(base);
    // another image, another expected digest (the Job's command stays the same), another reference
    const others = [await key({ copierImage: "node:22-bookworm-slim" }), await key({}, `sha256:${"9".repeat(64)}`), await key({ updates: "keep" })];
    expect(new Set([base, ...others]).size).toBe(4);
  });
});

describe("switch stage: no credential in plain text in anything it registers", () => {
  const needles = (kubeToken: string) => {
    const secrets = [PASSWORD, LICENSE_KEY, PROXY_PASSWORD, kubeToken];
    return [...secrets, ...secrets.map(b64), b64(`client:${PASSWORD}`), b64(`license-token:${LICENSE_KEY}`)];
  };
  /** A string, and what base64 decoding reveals in it (the Secret's data nests base64 in JSON in base64). */
  function readings(text: string, depth = 0): string[] {
    const out = [text];
    if (depth < 3 && text.length >= 8 && /^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0) out.push(...readings(unb64(text), depth + 1));
    if (depth < 3) for (const piece of text.match(/[A-Za-z0-9+/]{12,}={0,2}/g) ?? []) if (piece !== text && piece.length % 4 === 0) out.push(...readings(unb64(piece), depth + 1));
    return out;
  }

  it.each([["local", true], ["local", false], ["cluster", true], ["cluster", false]])("checkFrom %s, preview %s: inputs, states, __provider and outputs", async (checkFrom, preview) => {
    const r = await run({ ...vendorCluster(), secretData: { ...vendorSecretData(OLD), ca: b64("old ca") } }, { preview, config: config({ checkFrom: checkFrom as "local" | "cluster" }) });
    const stored = [...r.registered.map((x) => ({ type: x.type, inputs: x.inputs, state: x.state })), { outputs: r.outputs }];
    const leaks = (value: unknown, secrets: string[]) => plaintextStrings(value).flatMap(({ at, text }) => readings(text).filter((t) => secrets.some((n) => t.includes(n))).map(() => at));
    expect(leaks(stored, needles(server.token))).toEqual([]);
    // The same scan over the values with their secret wrappers removed finds each credential: it could fail.
    const unwrapped = reveal(stored)[0];
    expect(leaks(unwrapped, [PASSWORD]).length).toBeGreaterThan(0);
    expect(leaks(unwrapped, [LICENSE_KEY]).length).toBeGreaterThan(0);
    if (checkFrom === "cluster") expect(leaks(unwrapped, [PROXY_PASSWORD]).length).toBeGreaterThan(0);
    for (const x of customResources(r).filter((c) => typeof c.inputs.__provider === "string")) {
      expect(needles(server.token).filter((n) => x.inputs.__provider.includes(n))).toEqual([]);
      expect(x.inputs.__provider).not.toContain(server.url);
      expect(x.inputs.__provider).not.toContain("certificate-authority-data");
    }
  });
});
