// The switch stage under Pulumi's mocks, reading a Deckhouse cluster from the Kubernetes API test server (a
// simulation of the API on 127.0.0.1, not a cluster): what it declares, in which order, with which inputs; the
// plan in plain words; every refusal in preview and in update before anything is declared; the same inputs from
// every half-state of a switch; and no credential in plain text in anything it registers.
import type { SwitchStageConfig } from "../../stack-config";
import type { RegistryChecker } from "../../components/switch/registry-checks";
import { snapshotProvider } from "../../components/switch/snapshot-provider";
import { rolloutProvider } from "../../components/switch/rollout-provider";
import { updatesProvider } from "../../components/switch/updates-provider";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import {
  b64,
  LICENSE_KEY,
  plaintextStrings,
  PROXY_PASSWORD,
  reveal,
  runSwitchStage,
  seedDeckhouseCluster,
  unb64,
  vendorSecretData,
  type DeckhouseClusterSpec,
  type StageRun,
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
  return {
    stage: "switch",
    targetImage: TARGET,
    targetUsername: "client",
    targetPassword: PASSWORD,
    targetInsecure: false,
    copyStack: "org/images-copier/copy",
    checkFrom: "local",
    copierImage: "node:20-bookworm-slim",
    copierBundled: false,
    ...overrides,
  };
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

async function run(cluster: DeckhouseClusterSpec, opts: { preview?: boolean; config?: SwitchStageConfig; copy?: unknown; recorded?: Record<string, Record<string, any>> } = {}): Promise<StageRun> {
  seedDeckhouseCluster(server, cluster);
  return runSwitchStage(opts.config ?? config(), "copy" in opts ? opts.copy : record, {
    preview: opts.preview,
    recorded: opts.recorded,
    deps: { checker, kube: { kubeconfig: server.kubeconfigYaml }, copierBundle: "/* test bundle */" },
  });
}

const customResources = (r: StageRun) => r.registered.filter((x) => !x.type.startsWith("pulumi:pulumi:") && !x.type.startsWith("images-copier:index:SwitchStage"));

beforeAll(async () => {
  server = await startKubeApiServer();
});

afterAll(async () => {
  await server?.stop();
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
    });
    expect(outputs?.rollback).toEqual([
      `d8-system/deckhouse-registry: the keys this switch writes, back to their values before the switch (registry ${OLD})`,
      `init container init-downloaded-modules: ${OLD}@${DIGEST}`,
      `container deckhouse: ${SOURCE_IMAGE}`,
      `container kube-rbac-proxy: ${OLD}:${TAG}`,
      "then waits for the Deckhouse rollout",
      "releaseChannel Stable, after the registry",
    ]);
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
        const { secret: _captured, secretRestorable: _restorable, channel: _channel, ...inputs } = reveal(x.inputs)[0];
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
    const providers = { ":SwitchSnapshot": snapshotProvider, ":DeckhouseRollout": rolloutProvider, ":DeckhouseUpdates": updatesProvider };
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
  it("declares the check Job's resource first, runs no registry check here, and says the check will run in the cluster", async () => {
    const r = await run(vendorCluster(), { preview: true, config: config({ checkFrom: "cluster" }) });
    expect(checks).toEqual([]);
    const check = r.resource(":ClusterCheck");
    expect(reveal(check.inputs)[0]).toMatchObject({
      namespace: "d8-system",
      copierImage: "node:20-bookworm-slim",
      bundle: "/* test bundle */",
      expectations: { references: [`${NEW}@${DIGEST}`, TARGET, `${NEW}:${TAG}`], targetImage: TARGET, sourceDigest: COPIED },
      target: { username: "client", password: PASSWORD, insecure: false, image: TARGET },
      proxyEnv: [{ name: "HTTPS_PROXY", value: expect.stringContaining(PROXY_PASSWORD) }, { name: "NO_PROXY", value: ".cluster.local" }],
    });
    expect(reveal(check.inputs.target)[1]).toBe(true);
    expect(reveal(check.inputs.proxyEnv)[1]).toBe(true);
    expect(((r.options(":DeckhouseUpdates").dependsOn ?? []) as unknown as Array<{ __name: string }>).map((d) => d.__name)).toEqual([expect.stringMatching(/-check$/)]);
    expect(r.outputs?.plan.checks).toBe(`will run in the cluster, as Job d8-system/images-copier-check, before any change: Bearer token auth of registry.example.com:5443 and 3 image(s) present (the target image as ${COPIED})`);
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
