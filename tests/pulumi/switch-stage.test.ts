// The switch stage under Pulumi's mocks: the exact Patch resources, the rollback capture, preview, and refusals.
import * as pulumi from "@pulumi/pulumi";
import type { SwitchStageConfig } from "../../stack-config";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { registrationsSettled } from "../helpers/pulumi-rpcs";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const DIGEST = `sha256:${"d".repeat(64)}`;
const TAG = `${"c".repeat(56)}-1650502544870`;
const TARGET = "registry.example.com:5443/client/deckhouse:rock-solid-1.46";
const NEW = "registry.example.com:5443/client/deckhouse";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
const CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
  id?: string;
}

interface World {
  copy: unknown;
  deployment: Record<string, unknown>;
  secretData: Record<string, string>;
}

let registered: Registered[] = [];
let world: World;

function liveDeployment(): Record<string, unknown> {
  return deckhouseDeployment({
    initContainers: [{ name: "init-downloaded-modules", image: `${OLD}@${DIGEST}` }],
    containers: [
      { name: "deckhouse", image: `${OLD}:rock-solid`, env: [{ name: "X", value: "1" }] },
      { name: "kube-rbac-proxy", image: `${OLD}:${TAG}` },
    ],
  });
}

function oldSecretData(extra: Record<string, string> = {}): Record<string, string> {
  const auth = JSON.stringify({ auths: { "registry.deckhouse.io": { auth: b64("license-token:KEY") } } });
  return { ".dockerconfigjson": b64(auth), address: b64("registry.deckhouse.io"), path: b64("/deckhouse/ee"), scheme: b64("https"), ...extra };
}

function setMocks(preview: boolean): void {
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, id: args.id });
        if (args.type === "pulumi:pulumi:StackReference") {
          return { id: args.inputs.name, state: { name: args.inputs.name, outputs: world.copy === undefined ? {} : { copy: world.copy }, secretOutputNames: [] } };
        }
        if (args.type === "kubernetes:apps/v1:Deployment" && args.id) return { id: args.id, state: world.deployment };
        if (args.type === "kubernetes:core/v1:Secret" && args.id) {
          return { id: args.id, state: { apiVersion: "v1", kind: "Secret", type: "kubernetes.io/dockerconfigjson", data: world.secretData } };
        }
        if (args.type.endsWith(":SwitchSnapshot")) return { id: "d8-system/deckhouse", state: { ...args.inputs, capturedAt: "2026-01-01T00:00:00Z" } };
        if (args.type.endsWith(":DeckhouseRollout")) return { id: "d8-system/deckhouse", state: { ...args.inputs, ready: true, oldRegistryPods: [{ namespace: "app", name: "web-1", images: [`${OLD}:x`] }] } };
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "images-copier",
    "switch",
    preview,
  );
}

function config(overrides: Partial<SwitchStageConfig> = {}): SwitchStageConfig {
  return {
    stage: "switch",
    targetImage: TARGET,
    targetUsername: "client",
    targetPassword: 'p"a:ss:w"rd',
    targetInsecure: false,
    copyStack: "org/images-copier/copy",
    ...overrides,
  };
}

const goodCopy = { status: "succeeded", targetImage: TARGET, verified: true, images: 3, copied: 3, skipped: 0, bytes: 100, durationMs: 10, runId: "1" };

let checkedReferences: string[][] = [];
let missing = new Set<string>();
const checker = async (references: string[], access: { password?: string; insecure?: boolean; ca?: string }) => {
  checkedReferences.push(references);
  expect(access.password).toBe(config().targetPassword);
  return references.map((reference) => ({ reference, exists: !missing.has(reference), error: missing.has(reference) ? "manifest unknown" : undefined }));
};

// Resource options are not passed to the mocks; a transformation on the component sees its children's.
let options: Array<{ type: string; name: string; opts: pulumi.CustomResourceOptions }> = [];
const recordOptions: pulumi.ResourceTransformation = (args) => {
  options.push({ type: args.type, name: args.name, opts: args.opts as pulumi.CustomResourceOptions });
  return undefined;
};

let counter = 0;
async function runStage(cfg: SwitchStageConfig, preview = false) {
  setMocks(preview);
  // Required after setMocks so the component binds to this mock runtime.
  const { SwitchStage } = await import("../../components/switch/stage");
  const stage = new SwitchStage(`switch${++counter}`, cfg, { transformations: [recordOptions] }, { checkImages: checker, kube: { kubeconfig: "apiVersion: v1\nkind: Config\n" } });
  const refusal = stage.gatePassed.then(() => undefined, (err: Error) => err);
  const outputs = await (pulumi.output(stage.outputs) as any).promise();
  // the component's own output registration reaches this mock monitor before the next test replaces it
  await registrationsSettled();
  const refused = await refusal;
  if (refused) throw refused;
  const byType = (suffix: string) => registered.filter((r) => r.type.endsWith(suffix) && r.name.startsWith(`switch${counter}`));
  return { stage, outputs, secretPatch: byType("core/v1:SecretPatch")[0], deploymentPatch: byType("apps/v1:DeploymentPatch")[0], snapshot: byType(":SwitchSnapshot")[0], rollout: byType(":DeckhouseRollout")[0] };
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/** Mock inputs carry secrets as signature objects: [value, wasSecret]. */
function reveal(value: any): [any, boolean] {
  if (value && typeof value === "object" && value[SECRET_SIG]) return [reveal(value.value)[0], true];
  if (Array.isArray(value)) return [value.map((v) => reveal(v)[0]), false];
  if (value && typeof value === "object") return [Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)[0]])), false];
  return [value, false];
}

beforeEach(() => {
  registered = [];
  options = [];
  checkedReferences = [];
  missing = new Set();
  world = { copy: goodCopy, deployment: liveDeployment(), secretData: oldSecretData() };
});

describe("switch stage (Pulumi mocks)", () => {
  it("patches the Deployment: deckhouse gets targetImage, the others keep tag or digest in the new repository", async () => {
    const { deploymentPatch, outputs } = await runStage(config());
    expect(deploymentPatch.inputs.metadata).toEqual({
      name: "deckhouse",
      namespace: "d8-system",
      annotations: { "pulumi.com/patchForce": "true", "pulumi.com/patchFieldManager": "images-copier-switch", "pulumi.com/skipAwait": "true" },
    });
    expect(deploymentPatch.inputs.spec).toEqual({
      template: {
        spec: {
          initContainers: [{ name: "init-downloaded-modules", image: `${NEW}@${DIGEST}` }],
          containers: [
            { name: "deckhouse", image: TARGET },
            { name: "kube-rbac-proxy", image: `${NEW}:${TAG}` },
          ],
        },
      },
    });
    expect(outputs.deckhouseImage).toEqual({ from: `${OLD}:rock-solid`, to: TARGET });
    expect(checkedReferences).toEqual([[`${NEW}@${DIGEST}`, TARGET, `${NEW}:${TAG}`]]);
  });

  it("re-points only images under the Secret's registry repository: a third-party sidecar is neither patched nor checked", async () => {
    const containers = (world.deployment as any).spec.template.spec.containers;
    containers.push({ name: "istio-proxy", image: "docker.io/istio/proxyv2:1.19.0" }, { name: "other-deckhouse-edition", image: "registry.deckhouse.io/deckhouse/ce:v1.46.3" });
    const { deploymentPatch, outputs } = await runStage(config());
    expect(deploymentPatch.inputs.spec.template.spec.containers).toEqual([
      { name: "deckhouse", image: TARGET },
      { name: "kube-rbac-proxy", image: `${NEW}:${TAG}` },
    ]);
    expect(checkedReferences).toEqual([[`${NEW}@${DIGEST}`, TARGET, `${NEW}:${TAG}`]]);
    expect(outputs.imageChanges.map((c: { name: string }) => c.name)).toEqual(["init-downloaded-modules", "deckhouse", "kube-rbac-proxy"]);
  });

  it("takes the old repository from the Secret (a mirror), not from where images happen to look official", async () => {
    const MIRROR = "mirror.corp.example:5000/d8/ee";
    world.secretData = { ...oldSecretData(), address: b64("mirror.corp.example:5000"), path: b64("d8/ee") };
    const spec = (world.deployment as any).spec.template.spec;
    spec.containers = [{ name: "deckhouse", image: `${MIRROR}:rock-solid` }, { name: "kube-rbac-proxy", image: `${MIRROR}:${TAG}` }, { name: "pinned", image: `${OLD}:${TAG}` }];
    spec.initContainers = [];
    const { deploymentPatch, outputs } = await runStage(config());
    expect(deploymentPatch.inputs.spec.template.spec).toEqual({ containers: [{ name: "deckhouse", image: TARGET }, { name: "kube-rbac-proxy", image: `${NEW}:${TAG}` }] });
    expect(outputs.oldRegistry).toBe(MIRROR);
  });

  it("patches the Secret with the exact keys; a password with quotes and colons survives; the credentials are secret", async () => {
    const { secretPatch, outputs } = await runStage(config());
    expect(secretPatch.inputs.metadata).toEqual({
      name: "deckhouse-registry",
      namespace: "d8-system",
      annotations: { "pulumi.com/patchForce": "true", "pulumi.com/patchFieldManager": "images-copier-switch" },
    });
    const [data, dataIsSecret] = reveal(secretPatch.inputs.data);
    expect(dataIsSecret).toBe(true);
    expect(Object.keys(data).sort()).toEqual([".dockerconfigjson", "address", "path", "scheme"]);
    expect(unb64(data.address)).toBe("registry.example.com:5443");
    expect(unb64(data.path)).toBe("/client/deckhouse");
    expect(unb64(data.scheme)).toBe("https");
    const auths = JSON.parse(unb64(data[".dockerconfigjson"])).auths;
    expect(Object.keys(auths)).toEqual(["registry.example.com:5443"]);
    const entry = auths["registry.example.com:5443"];
    expect(entry).toEqual({ username: "client", password: 'p"a:ss:w"rd', auth: b64('client:p"a:ss:w"rd') });
    expect(outputs.secretKeys).toEqual({ ".dockerconfigjson": "changed", address: "changed", path: "changed", scheme: "unchanged" });
    expect(JSON.stringify(outputs)).not.toContain("p\\\"a:ss");
  });

  it("writes scheme http when insecure, the CA when given, and imagesRegistry where the Secret has it", async () => {
    world.secretData = oldSecretData({ imagesRegistry: b64("registry.deckhouse.io/deckhouse/ee"), clusterIsBootstrapped: b64("true") });
    const { secretPatch, snapshot } = await runStage(config({ targetInsecure: true, targetCA: CA }));
    const [data] = reveal(secretPatch.inputs.data);
    expect(Object.keys(data).sort()).toEqual([".dockerconfigjson", "address", "ca", "imagesRegistry", "path", "scheme"]);
    expect(unb64(data.scheme)).toBe("http");
    expect(unb64(data.ca)).toBe(CA);
    expect(unb64(data.imagesRegistry)).toBe("registry.example.com:5443/client/deckhouse");
    // clusterIsBootstrapped is not touched and not captured
    expect(Object.keys(reveal(snapshot.inputs.secret)[0].data).sort()).toEqual([".dockerconfigjson", "address", "ca", "imagesRegistry", "path", "scheme"]);
  });

  it("empties the old registry's CA when no CA is given", async () => {
    world.secretData = oldSecretData({ ca: b64("old ca") });
    const { secretPatch, snapshot } = await runStage(config());
    expect(unb64(reveal(secretPatch.inputs.data)[0].ca)).toBe("");
    expect(reveal(snapshot.inputs.secret)[0].data.ca).toBe(b64("old ca"));
  });

  it("captures the rollback values before the patches, which are retained on delete and depend on it", async () => {
    world.secretData = oldSecretData();
    const { snapshot, outputs } = await runStage(config({ targetCA: CA }));
    expect(snapshot.inputs.images).toEqual({
      namespace: "d8-system",
      name: "deckhouse",
      containers: [
        { name: "deckhouse", image: `${OLD}:rock-solid` },
        { name: "kube-rbac-proxy", image: `${OLD}:${TAG}` },
      ],
      initContainers: [{ name: "init-downloaded-modules", image: `${OLD}@${DIGEST}` }],
    });
    const [secret, secretIsSecret] = reveal(snapshot.inputs.secret);
    expect(secretIsSecret).toBe(true);
    expect(reveal(snapshot.inputs.kube)[1]).toBe(true);
    expect(secret).toEqual({ namespace: "d8-system", name: "deckhouse-registry", data: { ...oldSecretData(), ca: null } });
    expect(snapshot.inputs.oldRegistry).toBe(OLD);
    expect(typeof snapshot.inputs.__provider).toBe("string");
    expect(outputs.rollbackDeckhouseImage).toBe(`${OLD}:rock-solid`);
    expect(outputs.oldRegistryPods).toEqual([{ namespace: "app", name: "web-1", images: [`${OLD}:x`] }]);
    expect(outputs.followUp.join("\n")).toMatch(/bashible[\s\S]*istio[\s\S]*releaseChannel/);
    const opts = (suffix: string) => options.find((o) => o.type.endsWith(suffix))?.opts as pulumi.CustomResourceOptions;
    expect(opts("SecretPatch").retainOnDelete).toBe(true);
    expect(opts("DeploymentPatch").retainOnDelete).toBe(true);
    const names = (deps: unknown) => (deps as pulumi.Resource[]).map((r) => (r as any).__name as string);
    expect(names(opts("SecretPatch").dependsOn)).toEqual([expect.stringMatching(/-rollback$/)]);
    expect(names(opts("DeploymentPatch").dependsOn)).toEqual([expect.stringMatching(/-rollback$/), expect.stringMatching(/-deckhouse-registry$/)]);
    expect(names(opts("DeckhouseRollout").dependsOn)).toEqual([expect.stringMatching(/-deckhouse$/)]);
  });

  it("runs the gate in preview too: the patches carry known images and Secret keys", async () => {
    const { deploymentPatch, secretPatch } = await runStage(config(), true);
    expect(deploymentPatch.inputs.spec.template.spec.containers[0]).toEqual({ name: "deckhouse", image: TARGET });
    expect(Object.keys(reveal(secretPatch.inputs.data)[0]).sort()).toEqual([".dockerconfigjson", "address", "path", "scheme"]);
    expect(checkedReferences).toHaveLength(1);
  });

  const refusals: Array<[string, () => void, RegExp]> = [
    ["no copy output", () => (world.copy = undefined), /copy stack "org\/images-copier\/copy" has no "copy" output/],
    ["a failed copy", () => (world.copy = { ...goodCopy, status: "failed" }), /reports copy status "failed"/],
    ["an unverified copy", () => (world.copy = { ...goodCopy, verified: false }), /not verified/],
    ["a copy to another target", () => (world.copy = { ...goodCopy, targetImage: "other.example.com/d:rs" }), /copied to "other.example.com\/d:rs"/],
    ["an untagged image in the old repository", () => (world.deployment as any).spec.template.spec.containers.push({ name: "sidecar", image: OLD }), /container "sidecar": image "registry\.deckhouse\.io\/deckhouse\/ee" is in the old registry repository but has neither a tag nor a digest/],
    ["a missing image", () => missing.add(`${NEW}:${TAG}`), new RegExp(`1 of 3 image\\(s\\) are not in the target registry: ${NEW.replace(/\./g, "\\.")}:${TAG} \\(manifest unknown\\)`)],
  ];
  for (const [what, arrange, message] of refusals) {
    it(`refuses in preview, before any patch, on ${what}`, async () => {
      arrange();
      await expect(runStage(config(), true)).rejects.toThrow(message);
      expect(registered.filter((r) => r.type.endsWith("Patch") || r.type.includes("dynamic"))).toEqual([]);
    });
  }
});
