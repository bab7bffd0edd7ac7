// The switch stack under the SDK's mocks, reading a Deckhouse cluster served by the Kubernetes API test server:
// the `deckhouse` Deployment (with proxy variables holding a password), its running pod, the deckhouse-registry
// Secret (a license key) and the release channel. What the program registers is recorded for the tests.
import * as pulumi from "@pulumi/pulumi";
import { switchStageConfigSchema, type SwitchStageConfig } from "../../stack-config";
import type { SwitchStageDeps } from "../../components/switch/stage";
import { deckhouseDeployment, type ContainerSpec } from "./deckhouse-deployment";
import { deckhouseLabels } from "./deckhouse-labels";
import type { KubeApiServer, KubeObject } from "./kube-api-server";

export const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
export const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

export const LICENSE_KEY = "LicenseKey-9f8e7d6c";
export const PROXY_PASSWORD = "proxy-Pa55-w0rd";
export const PROXY_URL = `http://squid-user:${PROXY_PASSWORD}@squid.corp.example:3128`;

export interface DeckhouseClusterSpec {
  /** The vendor's repository, `host/path`. */
  source: string;
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  /** The imageID the deckhouse pod reports; undefined: a pod that does not run yet. */
  podImageID?: string;
  /** base64 data of deckhouse-registry; default: the vendor's registry with a license key. */
  secretData?: Record<string, string>;
  /** ModuleConfig deckhouse's releaseChannel (undefined: the ModuleConfig has none); null: no ModuleConfig at all. */
  releaseChannel?: string | null;
  /** The YAML of ConfigMap d8-system/deckhouse key deckhouse (older releases). */
  configMapYaml?: string;
  /** The Deployment's `status` (with `metadata.generation` 1), as its controller reports it. */
  deploymentStatus?: Record<string, unknown>;
}

export function vendorSecretData(source: string): Record<string, string> {
  const host = source.split("/")[0];
  const auth = JSON.stringify({ auths: { [host]: { auth: b64(`license-token:${LICENSE_KEY}`) } } });
  return { ".dockerconfigjson": b64(auth), address: b64(host), path: b64(`/${source.split("/").slice(1).join("/")}`), scheme: b64("https") };
}

/** Puts the objects the switch reads into the test server, replacing what a previous test left. */
export function seedDeckhouseCluster(server: KubeApiServer, spec: DeckhouseClusterSpec): void {
  for (const pod of server.list("v1", "Pod", "d8-system")) server.remove("v1", "Pod", "d8-system", pod.metadata.name);
  server.remove("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse");
  server.remove("v1", "ConfigMap", "d8-system", "deckhouse");
  const containers = spec.containers.map((c) => (c.name === "deckhouse" ? { ...c, env: [{ name: "HTTPS_PROXY", value: PROXY_URL }, { name: "NO_PROXY", value: ".cluster.local" }, ...((c.env as unknown[]) ?? [])] } : c));
  const status = spec.deploymentStatus ? { generation: 1, status: spec.deploymentStatus } : {};
  server.put(deckhouseDeployment({ containers, initContainers: spec.initContainers, ...status }) as KubeObject);
  const deckhouse = spec.containers.find((c) => c.name === "deckhouse");
  server.put({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "deckhouse-6f7d9c-x2k4p", namespace: "d8-system", labels: { app: "deckhouse" } },
    spec: { containers: spec.containers },
    status: { phase: "Running", containerStatuses: [{ name: "deckhouse", image: deckhouse?.image, imageID: spec.podImageID ?? "", ready: spec.podImageID !== undefined }] },
  });
  server.put({
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/dockerconfigjson",
    metadata: { name: "deckhouse-registry", namespace: "d8-system", labels: deckhouseLabels() },
    data: spec.secretData ?? vendorSecretData(spec.source),
  } as KubeObject);
  if (spec.releaseChannel !== null) {
    server.put({
      apiVersion: "deckhouse.io/v1alpha1",
      kind: "ModuleConfig",
      metadata: { name: "deckhouse" },
      spec: { version: 1, settings: { bundle: "Default", ...(spec.releaseChannel ? { releaseChannel: spec.releaseChannel } : {}) } },
    });
  }
  if (spec.configMapYaml !== undefined) {
    server.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "deckhouse", namespace: "d8-system" }, data: { deckhouse: spec.configMapYaml } });
  }
}

export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** What the mock engine answered as the resource's state (its outputs). */
  state: Record<string, any>;
}

export interface StageRun {
  registered: Registered[];
  outputs?: Record<string, any>;
  /** The rejection of declareSwitchStage: a refusal. */
  refusal?: Error;
  /** The registered resource whose type ends with `suffix`. */
  resource(suffix: string): Registered;
  /** Resource options as the component's children were given them. */
  options(suffix: string): pulumi.CustomResourceOptions;
}

let counter = 0;

/** The SDK's own wait for outstanding RPCs (registrations and output registrations), pinned with @pulumi/pulumi. */
const { waitForRPCs } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

/** Runs the stage under mocks (preview or update) with `copy` as the copy stack's output. */
export async function runSwitchStage(
  config: SwitchStageConfig,
  copy: unknown,
  opts: {
    preview?: boolean;
    deps: SwitchStageDeps;
    /** States by resource type, answered as the engine answers for a resource whose diff found no change: its recorded outputs. */
    recorded?: Record<string, Record<string, any>>;
  },
): Promise<StageRun> {
  // A late output registration of an earlier run must reach the monitor that knows its resource.
  await waitForRPCs();
  const registered: Registered[] = [];
  const options: Array<{ type: string; opts: pulumi.CustomResourceOptions }> = [];
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        let state: Record<string, any> = args.inputs;
        if (args.type === "pulumi:pulumi:StackReference") state = { name: args.inputs.name, outputs: copy === undefined ? {} : { copy }, secretOutputNames: [] };
        else if (args.type.endsWith(":SwitchSnapshot")) state = { ...args.inputs, capturedAt: "2026-01-01T00:00:00Z" };
        else if (args.type.endsWith(":DeckhouseRollout")) state = { ...args.inputs, ready: true, oldRegistryPods: [], oldRegistryWorkloads: [] };
        else if (args.type.endsWith(":BashibleApplied")) state = { ...args.inputs, nodeGroups: [], appliedAt: "2026-01-01T00:00:00Z" };
        else if (args.type.endsWith(":DeckhouseUpdates")) state = { ...args.inputs, removed: args.inputs.mode === "disable" ? (args.inputs.channel ?? null) : null, removedFrom: args.inputs.home };
        else if (args.type.endsWith(":ClusterCheck")) state = { ...args.inputs, checkedAt: "2026-01-01T00:00:00Z" };
        // What the providers add to the check's objects: a uid (unknown until the object exists, as in a real preview).
        else if (args.type === "kubernetes:core/v1:Secret") state = { ...args.inputs, metadata: { ...args.inputs.metadata, uid: opts.preview ? pulumi.unknown : `uid-${args.name}` } };
        else if (args.type.endsWith(":CopierBundle")) state = { ...args.inputs, uid: opts.preview ? pulumi.unknown : `uid-${args.name}` };
        if (opts.recorded?.[args.type]) state = opts.recorded[args.type];
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, state });
        return { id: args.type === "pulumi:pulumi:StackReference" ? args.inputs.name : `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    "images-copier",
    "switch",
    opts.preview ?? false,
  );
  // Required after setMocks so the component binds to this mock runtime.
  const { declareSwitchStage } = await import("../../components/switch/stage");
  // Resource options are not passed to the mocks; a transformation on the component sees its children's.
  const recordOptions: pulumi.ResourceTransformation = (args) => {
    options.push({ type: args.type, opts: args.opts as pulumi.CustomResourceOptions });
    return undefined;
  };
  let refusal: Error | undefined;
  let outputs: Record<string, any> | undefined;
  try {
    const stage = await declareSwitchStage(`switch${++counter}`, config, { transformations: [recordOptions] }, opts.deps);
    outputs = await (pulumi.output(stage.outputs) as any).promise();
  } catch (err) {
    refusal = err as Error;
  }
  await waitForRPCs();
  const find = <T extends { type: string }>(list: T[], suffix: string) => {
    const found = list.filter((r) => r.type.endsWith(suffix));
    if (found.length !== 1) throw new Error(`expected one ${suffix}, found ${found.length}`);
    return found[0];
  };
  return { registered, outputs, refusal, resource: (suffix) => find(registered, suffix), options: (suffix) => find(options, suffix).opts };
}

export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Mock inputs carry secrets as signature objects: [value, wasSecret]. */
export function reveal(value: any): [any, boolean] {
  if (value && typeof value === "object" && value[SECRET_SIG]) return [reveal(value.value)[0], true];
  if (Array.isArray(value)) return [value.map((v) => reveal(v)[0]), false];
  if (value && typeof value === "object") return [Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)[0]])), false];
  return [value, false];
}

/** Every string outside a secret wrapper, with where it sits: what the engine would store in plain text. */
export function plaintextStrings(value: any, at = "$", out: Array<{ at: string; text: string }> = []): Array<{ at: string; text: string }> {
  if (typeof value === "string") out.push({ at, text: value });
  else if (value && typeof value === "object" && value[SECRET_SIG]) return out;
  else if (Array.isArray(value)) value.forEach((v, i) => plaintextStrings(v, `${at}[${i}]`, out));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) plaintextStrings(v, `${at}.${k}`, out);
  return out;
}

/** A switch stage config as a stack gets it (the schema fills every default), without impersonation: the tests that
 *  use it prove the writes as the kubeconfig's user. */
export function switchConfig(values: Pick<SwitchStageConfig, "targetImage" | "targetUsername" | "targetPassword" | "copyStack"> & Partial<SwitchStageConfig>): SwitchStageConfig {
  return { ...switchStageConfigSchema.parse({ stage: "switch", ...values }), kubeImpersonate: undefined };
}
