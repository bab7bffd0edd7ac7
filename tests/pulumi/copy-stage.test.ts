// The copy stack under Pulumi's SDK mocks: what is declared for a given config (the Kubernetes Secret and Job, the
// copier's ConfigMap by digest, the CopyRun wait), with which options, in preview mode too; that every credential
// stays a Pulumi secret and the Job's spec stays plain; the release check; and the `copy` output's contract.
// The program's reads go to the Kubernetes API test server (a simulation of the API, not a cluster).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ImageNotFoundError, type InspectedCopierImage } from "../../copier";
import type { CopierImageInspector } from "../../components/copier-job/image";
import { declareCopyStage, type CopyStage } from "../../components/copy/stage";
import { copyRecordSchema, RELEASE_FIELDS } from "../../components/copy-record";
import { requireVerifiedCopy } from "../../components/switch/copy-check";
import { parseStackConfig, type CopyStageConfig } from "../../stack-config";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";

const TARGET_PASSWORD = 'tgt-Pa:ss"word';
const SOURCE_PASSWORD = "license:key:with:colons";
const PROXY_PASSWORD = "Pr0xy-pass";
const DECKHOUSE_IMAGE = "registry.deckhouse.io/deckhouse/ee:v1.58.3";
const SOURCE_DIGEST = `sha256:${"d".repeat(64)}`;
const IMAGES_DIGEST = `sha256:${"e".repeat(64)}`;
const PREVIEW = process.env.COPY_STAGE_PREVIEW === "1";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

const work = mkdtempSync(join(tmpdir(), "copy-stage-"));
const BUNDLE_TEXT = "/* bundled copier */ console.log('images-copier');\n";
const BUNDLE = join(work, "images-copier.cjs");
writeFileSync(BUNDLE, BUNDLE_TEXT);
const BUNDLE_SHA = createHash("sha256").update(BUNDLE_TEXT).digest("hex");
afterAll(() => rmSync(work, { recursive: true, force: true }));

function registrySecretData(entry: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ".dockerconfigjson": b64(JSON.stringify({ auths: { "registry.deckhouse.io": entry } })),
    address: b64("registry.deckhouse.io"),
    path: b64("/deckhouse/ee"),
    scheme: b64("https"),
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, b64(v)])),
  };
}

interface Declared {
  type: string;
  name: string;
  inputs: any;
  id?: string;
}

let kube: KubeApiServer;
beforeAll(async () => {
  kube = await startKubeApiServer();
});
afterAll(async () => {
  await kube?.stop();
});

// One mock monitor per test file (a component registers its outputs later, on the monitor it was created with).
let declared: Declared[] = [];
let uids = 0;

pulumi.runtime.setMocks(
  {
    newResource(args) {
      declared.push({ type: args.type, name: args.name, inputs: args.inputs, id: args.id });
      // What the providers add: a new object's uid (unknown until it exists, as in a real preview).
      const uid = PREVIEW ? pulumi.unknown : `uid-${args.name}-${++uids}`;
      if (args.type === "kubernetes:core/v1:Secret" || args.type === "kubernetes:batch/v1:Job") {
        return { id: PREVIEW ? "" : `d8-system/${args.inputs.metadata.name}`, state: { ...args.inputs, metadata: { ...args.inputs.metadata, uid } } };
      }
      if (args.type === "pulumi-nodejs:dynamic:CopierBundle") return { id: PREVIEW ? "" : "bundle-id", state: { ...args.inputs, uid } };
      if (args.type === "pulumi-nodejs:dynamic:CopyRun" && !PREVIEW) {
        // what CopyRun's create() returns after a successful run
        const summary = {
          images: 3, copied: 2, skipped: 1, failed: 0, bytes: 2048, bytesHuman: "2.0 KiB", durationMs: 4000, durationSeconds: 4,
          target: "registry.customer.example/deckhouse/ee:rock-solid-1.46", source: args.inputs.sourceImage, sourceDigest: SOURCE_DIGEST, imagesDigest: IMAGES_DIGEST, verificationOnly: false,
        };
        return { id: "copy-run-id", state: { ...args.inputs, status: "succeeded", message: "Image copier ran successfully. Cleanup", summary } };
      }
      return { id: PREVIEW ? "" : `${args.name}-id`, state: args.inputs };
    },
    call: () => ({}),
  },
  "images-copier",
  "copy",
  PREVIEW,
);

function config(overrides: Record<string, unknown> = {}): CopyStageConfig {
  return parseStackConfig({
    stage: "copy",
    targetImage: "registry.customer.example/deckhouse/ee:rock-solid-1.46",
    targetUsername: "robot",
    targetPassword: TARGET_PASSWORD,
    ...overrides,
  }) as CopyStageConfig;
}

const value = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));
/** Waits until every child the stage declares has reached the mock monitor. */
async function registered(stage: CopyStage): Promise<void> {
  await Promise.all([value(stage.run.urn), value(stage.job.urn), value(stage.secret.urn), stage.bundle ? value(stage.bundle.urn) : undefined]);
}

let counter = 0;
interface Declaration {
  stage: CopyStage;
  declared: Declared[];
  options: Record<string, pulumi.CustomResourceOptions>;
  of(type: string): Declared;
}

interface ClusterState {
  overrides?: Record<string, unknown>;
  secretData?: Record<string, string>;
  image?: string;
  /** The Deployment's annotations; null: none. Default: core.deckhouse.io/version v1.58.3. */
  annotations?: Record<string, string> | null;
  env?: Array<Record<string, unknown>>;
  releases?: Array<{ version: string; phase: string }>;
  bundle?: string;
  /** Answers for a copierImage in the target registry; by default none may be read. */
  inspect?: CopierImageInspector;
  /** ModuleConfig deckhouse spec.settings.registry (and Module registry enabled with it); none by default. */
  registry?: Record<string, unknown>;
  /** ModuleConfig registry spec.settings.mode (the unreleased Managed implementation). */
  registryModuleMode?: string;
}

const noRegistryRead: CopierImageInspector = async (reference) => {
  throw new Error(`test: unexpected registry read of ${reference}`);
};

/** Puts the cluster's objects into the API test server, then runs declareCopyStage against it. */
function start(state: ClusterState = {}) {
  for (const kind of ["Secret", "DeckhouseRelease"]) for (const o of kube.list(kind === "Secret" ? "v1" : "deckhouse.io/v1alpha1", kind, "")) kube.remove(o.apiVersion, kind, o.metadata.namespace ?? "default", o.metadata.name);
  kube.put(
    deckhouseDeployment({
      containers: [{ name: "kube-rbac-proxy", image: "other:1" }, { name: "deckhouse", image: state.image ?? DECKHOUSE_IMAGE, ...(state.env ? { env: state.env } : {}) }],
      ...(state.annotations === null ? {} : { annotations: state.annotations ?? { "core.deckhouse.io/version": "v1.58.3" } }),
    }) as never,
  );
  kube.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "deckhouse-registry", namespace: "d8-system" }, type: "kubernetes.io/dockerconfigjson", data: state.secretData ?? registrySecretData({ auth: b64(`license-token:${SOURCE_PASSWORD}`) }) });
  for (const name of ["deckhouse", "registry"]) kube.remove("deckhouse.io/v1alpha1", "ModuleConfig", "", name);
  kube.remove("deckhouse.io/v1alpha1", "Module", "", "registry");
  if (state.registry) {
    kube.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "ModuleConfig", metadata: { name: "deckhouse" }, spec: { version: 1, settings: { registry: state.registry } } });
    kube.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "Module", metadata: { name: "registry" }, status: { conditions: [{ type: "EnabledByModuleManager", status: "True" }] } });
  }
  if (state.registryModuleMode) {
    kube.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "ModuleConfig", metadata: { name: "registry" }, spec: { version: 1, enabled: true, settings: { mode: state.registryModuleMode } } });
  }
  for (const [i, r] of (state.releases ?? []).entries()) {
    kube.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "DeckhouseRelease", metadata: { name: `r${i}-${r.version}` }, spec: { version: r.version }, status: { phase: r.phase } });
  }
  declared = [];
  const seen = declared;
  const options: Record<string, pulumi.CustomResourceOptions> = {};
  const staged = declareCopyStage(
    `copy${++counter}`,
    config(state.overrides),
    // the SDK hands every child's options to its parent's transformations: this is how the test sees them
    { transformations: [(args) => void (options[`${args.type}::${args.name}`] = args.opts)] },
    { kube: { kubeconfig: kube.kubeconfigYaml }, copierBundlePath: state.bundle ?? BUNDLE, inspectCopierImage: state.inspect ?? noRegistryRead },
  );
  return { staged, seen, options };
}

async function declare(state: ClusterState = {}): Promise<Declaration> {
  const { staged, seen, options } = start(state);
  const stage = await staged;
  await registered(stage);
  const of = (type: string) => {
    const found = seen.filter((d) => d.type === type && !d.id);
    expect(found).toHaveLength(1);
    return found[0];
  };
  return { stage, declared: seen, options, of };
}

function optionsOf(d: Declaration, type: string, name: string): pulumi.CustomResourceOptions {
  const options = d.options[`${type}::${name}`];
  expect(options).toBeDefined();
  return options;
}

const isSecretWrapped = (v: any) => v?.[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
const secretJson = (secret: Declared, key: string) => JSON.parse(unb64(secret.inputs.data.value[key]));

describe(`copy stage${PREVIEW ? " in preview" : ""}`, () => {
  test("declares the component and its four resources; the cluster is only read, nothing of it kept in the state", async () => {
    const before = kube.requests.length;
    const d = await declare();
    expect(d.declared.map((x) => `${x.type} ${x.name}`)).toEqual([
      "images-copier:index:CopyStage " + d.declared[0].name,
      "kubernetes:core/v1:Secret images-copier-config",
      "pulumi-nodejs:dynamic:CopierBundle copier-bundle",
      "kubernetes:batch/v1:Job copy-images",
      "pulumi-nodejs:dynamic:CopyRun copy-run",
    ]);
    expect(d.declared.filter((x) => x.id)).toEqual([]); // no `.get()`: the Deployment's env would sit in the state
    expect(d.declared[0].inputs).toEqual({}); // the component's args would be stored: it gets none
    const requests = kube.requests.slice(before);
    const reads = requests.filter((r) => r.method === "GET").map((r) => `${r.method} ${r.path}`);
    // the registry's path (components/registry-mode.ts reads the ModuleConfigs, Module registry and the Deployment
    // again), then the legacy mode's Secret, then what else the cluster pulls: its modules, operator-trivy, the
    // release channel (components/copy/modules-read.ts)
    expect(reads).toEqual([
      "GET /apis/apps/v1/namespaces/d8-system/deployments/deckhouse",
      "GET /apis/deckhouse.io/v1alpha1/moduleconfigs/deckhouse",
      "GET /apis/deckhouse.io/v1alpha1/moduleconfigs/registry",
      "GET /apis/deckhouse.io/v1alpha1/modules/registry",
      "GET /apis/apps/v1/namespaces/d8-system/deployments/deckhouse",
      "GET /api/v1/namespaces/d8-system/secrets/deckhouse-registry",
      "GET /apis/deckhouse.io/v1alpha1/modulereleases",
      "GET /apis/deckhouse.io/v1alpha1/modules",
      "GET /apis/deckhouse.io/v1alpha1/moduleconfigs/operator-trivy",
      "GET /apis/deckhouse.io/v1alpha1/moduleconfigs/deckhouse",
      "GET /api/v1/namespaces/d8-system/configmaps/deckhouse",
    ]);
    // the run's creates in d8-system, proven as server-side dry runs (nothing stored), in preview and update alike
    expect(requests.filter((r) => r.method !== "GET").map((r) => `${r.method} ${r.path} dryRun=${r.query.dryRun}`)).toEqual([
      "POST /api/v1/namespaces/d8-system/secrets dryRun=All",
      "POST /api/v1/namespaces/d8-system/configmaps dryRun=All",
      "POST /apis/batch/v1/namespaces/d8-system/jobs dryRun=All",
    ]);
    expect(kube.get("v1", "Secret", "d8-system", "images-copier-config")).toBeUndefined();
    expect(kube.get("batch/v1", "Job", "d8-system", "copy-images")).toBeUndefined();
    expect(d.stage.outputs.sourceImage).toBe(DECKHOUSE_IMAGE);
    expect(d.stage.outputs.registryPath).toBe("legacy");
    expect(d.stage.outputs.deckhouseRelease).toEqual({ version: "v1.58.3", source: "annotation core.deckhouse.io/version of d8-system/deckhouse" });
  });

  test("the Secret images-copier-config: a Kubernetes Secret, immutable, its data secret, enriched as the hook did", async () => {
    const d = await declare();
    const secret = d.of("kubernetes:core/v1:Secret");
    expect(secret.name).toBe("images-copier-config");
    expect(secret.inputs.metadata).toEqual({
      name: "images-copier-config",
      namespace: "d8-system",
      labels: { "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier" },
      annotations: { "images-copier.deckhouse.io/run-id": "1", "images-copier.deckhouse.io/run-key": expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
    });
    expect(secret.inputs.type).toBe("Opaque");
    expect(secret.inputs.immutable).toBe(true);
    expect(isSecretWrapped(secret.inputs.data)).toBe(true);
    expect(Object.keys(secret.inputs.data.value).sort()).toEqual(["d8-repo.json", "dest-repo.json"]);
    expect(secretJson(secret, "dest-repo.json")).toEqual({ username: "robot", password: TARGET_PASSWORD, insecure: false, image: "registry.customer.example/deckhouse/ee:rock-solid-1.46" });
    expect(secretJson(secret, "d8-repo.json")).toEqual({ username: "license-token", password: SOURCE_PASSWORD, insecure: false, image: DECKHOUSE_IMAGE });
    expect(optionsOf(d, "kubernetes:core/v1:Secret", "images-copier-config")).toMatchObject({ deleteBeforeReplace: true, replaceOnChanges: ["*"] });
  });

  test("the Job copy-images: plain and whole in the preview, not awaited by the provider, hardened, replaced as a run", async () => {
    const d = await declare({ overrides: { concurrency: 12, copierImage: "node:20.18-bookworm-slim", timeoutMinutes: 90 } });
    const job = d.of("kubernetes:batch/v1:Job");
    expect(job.name).toBe("copy-images");
    expect(isSecretWrapped(job.inputs.spec)).toBe(false);
    expect(isSecretWrapped(job.inputs.metadata)).toBe(false);
    const secret = d.of("kubernetes:core/v1:Secret");
    expect(job.inputs.metadata).toEqual({
      name: "copy-images",
      namespace: "d8-system",
      labels: { "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier" },
      annotations: {
        "images-copier.deckhouse.io/run-id": "1",
        "images-copier.deckhouse.io/run-key": secret.inputs.metadata.annotations["images-copier.deckhouse.io/run-key"],
        "pulumi.com/skipAwait": "true",
        "pulumi.com/replaceUnready": "true",
        "pulumi.com/deletionPropagationPolicy": "background",
      },
    });
    expect(optionsOf(d, "kubernetes:batch/v1:Job", "copy-images")).toMatchObject({ deleteBeforeReplace: true, replaceOnChanges: ["*"] });
    const spec = job.inputs.spec;
    expect(spec.backoffLimit).toBe(0);
    expect(spec.activeDeadlineSeconds).toBe(90 * 60 + 60);
    // the Job names the Secret and ConfigMap it was made for (unknown until they exist)
    const annotations = spec.template.metadata.annotations;
    expect(annotations["images-copier.deckhouse.io/run-id"]).toBe("1");
    if (PREVIEW) {
      // only the uids are unknown before the objects exist; everything else above and below is shown
      expect(pulumi.isUnknown(annotations["images-copier.deckhouse.io/config-uid"])).toBe(true);
      expect(pulumi.isUnknown(annotations["images-copier.deckhouse.io/bundle-uid"])).toBe(true);
    } else {
      const bundle = d.of("pulumi-nodejs:dynamic:CopierBundle");
      expect(annotations["images-copier.deckhouse.io/config-uid"]).toMatch(/^uid-images-copier-config-/);
      expect(annotations["images-copier.deckhouse.io/bundle-uid"]).toMatch(/^uid-copier-bundle-/);
      expect(bundle.inputs.secretUid).toBe(annotations["images-copier.deckhouse.io/config-uid"]);
    }
    const pod = spec.template.spec;
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }]);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } });
    for (const container of [...pod.containers, ...pod.initContainers]) {
      expect(container.securityContext).toEqual({
        runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false,
        capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" },
      });
      expect(Object.keys(container.resources.limits)).toEqual(expect.arrayContaining(["cpu", "memory"]));
    }
    const [copier] = pod.containers;
    expect(copier.image).toBe("node:20.18-bookworm-slim");
    expect(copier.command).toEqual(["node", "/opt/images-copier/images-copier.cjs", "copy", "--config-dir", "/config", "--images", "/images/images.json", "--concurrency", "12"]);
    expect(pod.initContainers.map((c: { image: string; name: string }) => `${c.name} ${c.image}`)).toEqual([`images-list ${DECKHOUSE_IMAGE}`]);
    expect(pod.volumes).toEqual([
      { name: "config", secret: { secretName: "images-copier-config", defaultMode: 0o400, items: [{ key: "dest-repo.json", path: "dest-repo.json" }, { key: "d8-repo.json", path: "d8-repo.json" }] } },
      { name: "copier", configMap: { name: `images-copier-bundle-${BUNDLE_SHA.slice(0, 12)}`, defaultMode: 0o444 } },
      { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
      { name: "images", emptyDir: { sizeLimit: "16Mi" } },
    ]);
  });

  test("the copier's ConfigMap is named by the bundle's digest; its text never enters Pulumi's inputs", async () => {
    const d = await declare();
    const bundle = d.of("pulumi-nodejs:dynamic:CopierBundle");
    expect(bundle.inputs).toMatchObject({
      namespace: "d8-system",
      configMapName: `images-copier-bundle-${BUNDLE_SHA.slice(0, 12)}`,
      path: BUNDLE,
      sha256: BUNDLE_SHA,
      bytes: Buffer.byteLength(BUNDLE_TEXT),
      runId: "1",
      runKey: d.of("kubernetes:core/v1:Secret").inputs.metadata.annotations["images-copier.deckhouse.io/run-key"],
    });
    for (const x of d.declared) expect(JSON.stringify(x.inputs)).not.toContain("bundled copier");
  });

  test("CopyRun waits for exactly this Job and carries no credential; nothing any resource gets holds one in plain", async () => {
    const d = await declare();
    const run = d.of("pulumi-nodejs:dynamic:CopyRun");
    expect(run.name).toBe("copy-run");
    expect(run.inputs).toMatchObject({ namespace: "d8-system", runId: "1", timeoutMinutes: 360, jobName: "copy-images", secretName: "images-copier-config", sourceImage: DECKHOUSE_IMAGE });
    expect(run.inputs.configMapName).toBe(`images-copier-bundle-${BUNDLE_SHA.slice(0, 12)}`);
    if (!PREVIEW) {
      expect(run.inputs.jobUid).toMatch(/^uid-copy-images-/);
      expect(run.inputs.secretUid).toMatch(/^uid-images-copier-config-/);
      expect(run.inputs.configMapUid).toMatch(/^uid-copier-bundle-/);
    }
    expect(typeof run.inputs.__provider).toBe("string");
    // everything except the Secret's data (wrapped as a secret above) is what the engine stores in plain
    const plain = d.declared.map((x) => (x.type === "kubernetes:core/v1:Secret" && !x.id ? { ...x.inputs, data: "[secret]" } : x.inputs));
    const text = JSON.stringify(plain);
    for (const secret of [TARGET_PASSWORD, SOURCE_PASSWORD, b64(`license-token:${SOURCE_PASSWORD}`), JSON.stringify(TARGET_PASSWORD).slice(1, -1)]) {
      expect(text).not.toContain(secret);
    }
  });

  test("the copy output is the copy record the switch stack's gate accepts, every field filled", async () => {
    const d = await declare();
    if (PREVIEW) {
      // nothing has run in a preview: the outcome is unknown, so a switch preview against it cannot pass
      expect(await (pulumi.output(d.stage.outputs.copy) as any).isKnown).toBe(false);
      return;
    }
    const copy = await value(pulumi.output(d.stage.outputs.copy));
    expect(copyRecordSchema.parse(copy)).toEqual({
      status: "succeeded",
      verified: true,
      targetImage: "registry.customer.example/deckhouse/ee:rock-solid-1.46",
      runId: "1",
      sourceImage: DECKHOUSE_IMAGE,
      sourceDigest: SOURCE_DIGEST,
      sourceRepository: "registry.deckhouse.io/deckhouse/ee",
      imagesDigest: IMAGES_DIGEST,
      updateImages: false,
      registryPath: "legacy",
      deckhouseVersion: "v1.58.3",
      images: 3,
      copied: 2,
      skipped: 1,
      bytes: 2048,
      durationMs: 4000,
    });
    for (const field of RELEASE_FIELDS) expect(copy).toHaveProperty(field);
    expect(requireVerifiedCopy(copy, "registry.customer.example/deckhouse/ee:rock-solid-1.46", "copy").verified).toBe(true);
    expect(() => requireVerifiedCopy(copy, "registry.customer.example/deckhouse/ee:other-tag", "copy")).toThrow(/refusing to switch/);
  });

  test("a dev build's image: sourceRepository is the module repository, /dev stripped", async () => {
    const d = await declare({ image: "registry.deckhouse.io/deckhouse/ee/dev:v1.60.0" });
    if (PREVIEW) return;
    expect(await value(pulumi.output(d.stage.outputs.copy))).toMatchObject({ sourceImage: "registry.deckhouse.io/deckhouse/ee/dev:v1.60.0", sourceRepository: "registry.deckhouse.io/deckhouse/ee" });
  });
});

describe(`the release check${PREVIEW ? " in preview" : ""}: a Deckhouse before v1.51 runs its own images-copier hook`, () => {
  async function refusal(state: ClusterState): Promise<{ message: string; seen: Declared[] }> {
    const { staged, seen } = start(state);
    const error = await staged.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(pulumi.RunError); // reported by Pulumi as its message alone
    return { message: error?.message ?? "(no refusal)", seen };
  }
  const created = (seen: Declared[]) => seen.map((x) => x.type);

  test("v1.46.3 in the Deployment's annotation: refused in one line before anything is created", async () => {
    const { message, seen } = await refusal({ annotations: { "core.deckhouse.io/version": "v1.46.3" } });
    expect(message).toBe(
      "images-copier: refusing to copy: Deckhouse v1.46.3 (annotation core.deckhouse.io/version of d8-system/deckhouse) still runs its own images-copier hook, " +
        "which takes over Secret d8-system/images-copier-config and Job d8-system/copy-images (releases before v1.51); update Deckhouse to v1.51 or later first",
    );
    expect(created(seen)).toEqual([]);
  });

  test("a channel tag and a dev annotation: the Deployed DeckhouseRelease decides, either way", async () => {
    const releases = (version: string) => [
      { version: "v1.45.0", phase: "Outdated" },
      { version, phase: "Deployed" },
    ];
    const old = await refusal({ image: "registry.deckhouse.io/deckhouse/ee:rock-solid", annotations: { "core.deckhouse.io/version": "dev" }, releases: releases("v1.50.9") });
    expect(old.message).toMatch(/^images-copier: refusing to copy: Deckhouse v1\.50\.9 \(the Deployed DeckhouseRelease\) still runs its own images-copier hook/);
    expect(created(old.seen)).toEqual([]);

    const d = await declare({ image: "registry.deckhouse.io/deckhouse/ee:rock-solid", annotations: { "core.deckhouse.io/version": "dev" }, releases: releases("v1.51.0") });
    expect(d.stage.outputs.deckhouseRelease).toEqual({ version: "v1.51.0", source: "the Deployed DeckhouseRelease" });
    expect(d.of("kubernetes:batch/v1:Job").name).toBe("copy-images");
  });

  test("when the cluster says nothing, the refusal says what was looked at and how to state the release", async () => {
    const unknown = await refusal({ image: "registry.deckhouse.io/deckhouse/ee:rock-solid", annotations: null });
    expect(unknown.message).toBe(
      "images-copier: refusing to copy: cannot tell which Deckhouse release runs (d8-system/deckhouse has no core.deckhouse.io/version annotation; no DeckhouseRelease is Deployed; " +
        'the image tag "rock-solid" is not a version). Releases before v1.51 run Deckhouse\'s own images-copier hook on Secret d8-system/images-copier-config. ' +
        "If this one is v1.51 or later, say which: pulumi config set deckhouseVersion v1.NN.N",
    );
    expect(created(unknown.seen)).toEqual([]);

    const stated = await declare({ image: "registry.deckhouse.io/deckhouse/ee:rock-solid", annotations: null, overrides: { deckhouseVersion: "v1.62.1" } });
    expect(stated.stage.outputs.deckhouseRelease).toEqual({ version: "v1.62.1", source: "the stack's deckhouseVersion (the cluster does not say)" });
    // a stated version never overrides what the cluster says
    const overruled = await refusal({ annotations: { "core.deckhouse.io/version": "v1.50.0" }, overrides: { deckhouseVersion: "v1.62.1" } });
    expect(overruled.message).toMatch(/Deckhouse v1\.50\.0 \(annotation core\.deckhouse\.io\/version of d8-system\/deckhouse\) still runs/);
  });
});

describe(`the write proof${PREVIEW ? " in preview" : ""}`, () => {
  test("a create the cluster would refuse (RBAC): one line naming the object, the identity and the server's message; nothing declared or stored", async () => {
    const undo = kube.rejectRequests({ method: "POST", kind: "Job" }, 403, "Forbidden", 'jobs.batch is forbidden: User "ops" cannot create resource "jobs" in API group "batch" in the namespace "d8-system"');
    try {
      const { staged, seen } = start({});
      const error = await staged.then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error).toBeInstanceOf(pulumi.RunError);
      expect(error?.message).toBe(
        'images-copier: refusing to copy: the cluster refuses to create Job d8-system/copy-images as the kubeconfig\'s user "test": jobs.batch is forbidden: User "ops" cannot create resource "jobs" in API group "batch" in the namespace "d8-system" ' +
          '(403, server-side dry run; nothing changed). To fix: give the kubeconfig\'s user "test" that permission, or use a kubeconfig whose user has it',
      );
      expect(seen).toEqual([]);
      expect(kube.get("v1", "Secret", "d8-system", "images-copier-config")).toBeUndefined();
    } finally {
      undo();
    }
  });
});

describe(`the vendor's registry where the cluster keeps it${PREVIEW ? " in preview" : ""}`, () => {
  const LICENSE = "lic:ense-Key-42";
  const IN_CLUSTER = "registry.d8-system.svc:5001/system/deckhouse:v1.75.3";
  const v175 = { "core.deckhouse.io/version": "v1.75.3" };

  test("Direct: the source is the mode's imagesRepo with the Deployment's tag, license-token and the license; the Job still reads the list from the in-cluster image", async () => {
    const d = await declare({ image: IN_CLUSTER, annotations: v175, registry: { mode: "Direct", direct: { imagesRepo: "registry.deckhouse.io/deckhouse/ee", license: LICENSE, scheme: "HTTPS" } } });
    const secret = d.of("kubernetes:core/v1:Secret");
    expect(secretJson(secret, "d8-repo.json")).toEqual({ username: "license-token", password: LICENSE, insecure: false, image: "registry.deckhouse.io/deckhouse/ee:v1.75.3" });
    expect(d.of("kubernetes:batch/v1:Job").inputs.spec.template.spec.initContainers[0].image).toBe(IN_CLUSTER);
    expect(d.of("pulumi-nodejs:dynamic:CopyRun").inputs.sourceImage).toBe("registry.deckhouse.io/deckhouse/ee:v1.75.3");
    expect(d.stage.outputs.registryPath).toBe("Direct");
    if (PREVIEW) return;
    expect(await value(pulumi.output(d.stage.outputs.copy))).toMatchObject({
      sourceImage: "registry.deckhouse.io/deckhouse/ee:v1.75.3",
      sourceRepository: "registry.deckhouse.io/deckhouse/ee",
      registryPath: "Direct",
    });
  });

  test("configurable Unmanaged over HTTP with user, password and CA; Proxy with a license", async () => {
    const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const unmanaged = await declare({
      image: "mirror.example:5000/d8/ee:v1.74.2",
      annotations: { "core.deckhouse.io/version": "v1.74.2" },
      registry: { mode: "Unmanaged", unmanaged: { imagesRepo: "mirror.example:5000/d8/ee", username: "puller", password: 'p:w"d', scheme: "HTTP", ca } },
    });
    expect(secretJson(unmanaged.of("kubernetes:core/v1:Secret"), "d8-repo.json")).toEqual({ username: "puller", password: 'p:w"d', insecure: true, image: "mirror.example:5000/d8/ee:v1.74.2", ca });
    expect(unmanaged.stage.outputs.registryPath).toBe("Unmanaged");
    const proxy = await declare({ image: IN_CLUSTER, annotations: v175, registry: { mode: "Proxy", proxy: { imagesRepo: "registry.deckhouse.io/deckhouse/ee", license: LICENSE, ttl: "24h" } } });
    expect(secretJson(proxy.of("kubernetes:core/v1:Secret"), "d8-repo.json")).toMatchObject({ username: "license-token", image: "registry.deckhouse.io/deckhouse/ee:v1.75.3" });
  });

  test("Local and the unreleased Managed: refused in one line, nothing declared", async () => {
    for (const [state, expected] of [
      [{ registry: { mode: "Local" } }, /^images-copier: refusing to copy: ModuleConfig deckhouse sets registry mode Local: .*has no upstream to copy from; fill the target with d8 mirror instead$/],
      [{ registryModuleMode: "Managed" }, /^images-copier: refusing to copy: ModuleConfig registry is in mode Managed .*\(d8 mirror\)$/],
    ] as Array<[ClusterState, RegExp]>) {
      const { staged, seen } = start({ image: IN_CLUSTER, annotations: v175, ...state });
      const error = await staged.then(() => undefined, (e: Error) => e);
      expect(error).toBeInstanceOf(pulumi.RunError);
      expect(error?.message).toMatch(expected);
      expect(seen.map((x) => x.type)).toEqual([]);
    }
  });
});

describe(`a cluster already switched onto the target${PREVIEW ? " in preview" : ""}`, () => {
  test("Direct whose imagesRepo is already the target (the Deployment keeps the in-cluster address): refused in one line", async () => {
    const { staged, seen } = start({
      image: "registry.d8-system.svc:5001/system/deckhouse:v1.75.3",
      annotations: { "core.deckhouse.io/version": "v1.75.3" },
      registry: { mode: "Direct", direct: { imagesRepo: "registry.customer.example/deckhouse/ee", username: "robot", password: TARGET_PASSWORD } },
    });
    const error = await staged.then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(/^images-copier: refusing to copy: ModuleConfig deckhouse already has imagesRepo "registry.customer.example\/deckhouse\/ee", the target repository; the cluster was switched already;/);
    expect(error?.message).not.toContain(TARGET_PASSWORD);
    expect(seen.map((x) => x.type)).toEqual([]);
  });

  test("the Deployment's Deckhouse image under the target repository (either tag): refused in one line, nothing declared", async () => {
    for (const image of ["registry.customer.example/deckhouse/ee:rock-solid-1.46", "registry.customer.example/deckhouse/ee:v1.58.3"]) {
      const { staged, seen } = start({ image });
      const error = await staged.then(() => undefined, (e: Error) => e);
      expect(error).toBeInstanceOf(pulumi.RunError);
      expect(error?.message).toBe(
        `images-copier: refusing to copy: Deckhouse already runs "${image}" from the target repository registry.customer.example/deckhouse/ee; ` +
          "the cluster was switched already; to copy a release again, first switch back (`pulumi destroy` on the switch stack), or keep the copy stack's last record as it is",
      );
      expect(seen.map((x) => x.type)).toEqual([]);
    }
  });
});

describe(`what the config changes${PREVIEW ? " in preview" : ""}`, () => {
  test("imagesFile: d8-images.json in the Secret and mounted; no init container reads the release's list", async () => {
    const list = { common: { kubeRbacProxy: `sha256:${"a".repeat(64)}` }, nodeManager: { bashibleApiserver: `${"b".repeat(56)}-1650502544870` } };
    writeFileSync(join(work, "images.json"), JSON.stringify(list));
    const d = await declare({ overrides: { imagesFile: join(work, "images.json") } });
    const secret = d.of("kubernetes:core/v1:Secret");
    expect(Object.keys(secret.inputs.data.value).sort()).toEqual(["d8-images.json", "d8-repo.json", "dest-repo.json"]);
    expect(secretJson(secret, "d8-images.json")).toEqual(list);
    const pod = d.of("kubernetes:batch/v1:Job").inputs.spec.template.spec;
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers[0].command).not.toContain("--images");
    expect(pod.volumes[0].secret.items.map((i: { key: string }) => i.key)).toEqual(["dest-repo.json", "d8-repo.json", "d8-images.json"]);
    expect(pod.volumes.map((v: { name: string }) => v.name)).not.toContain("images");
  });

  test("a list the copier would refuse fails with one line before anything is declared", async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ common: "not-two-levels" }, /^images-copier:imagesFile: .*bad\.json: common: .*exactly two levels\)$/],
      [{ common: { kubeRbacProxy: "sha256:abc" } }, /^images-copier:imagesFile: .*bad\.json: common\.kubeRbacProxy: must be a tag or a sha256 digest/],
      [{}, /^images-copier:imagesFile: .*bad\.json: the image list is empty/],
    ];
    for (const [list, message] of bad) {
      writeFileSync(join(work, "bad.json"), JSON.stringify(list));
      const before = kube.requests.length;
      const { staged, seen } = start({ overrides: { imagesFile: join(work, "bad.json") } });
      const error = await staged.then(() => undefined, (e: Error) => e);
      expect(error).toBeInstanceOf(pulumi.RunError);
      expect(error?.message).toMatch(message);
      expect(error?.message).not.toContain("\n");
      expect(seen).toEqual([]);
      expect(kube.requests.length).toBe(before); // local input first: the cluster was not even read
    }
  });

  test("targetCA and targetInsecure reach dest-repo.json; the source's http scheme and CA reach d8-repo.json", async () => {
    const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const d = await declare({ overrides: { targetCA: ca, targetInsecure: true }, secretData: registrySecretData({ username: "u", password: "p:w" }, { scheme: "http", ca }) });
    const secret = d.of("kubernetes:core/v1:Secret");
    expect(secretJson(secret, "dest-repo.json")).toMatchObject({ insecure: true, ca });
    expect(secretJson(secret, "d8-repo.json")).toEqual({ username: "u", password: "p:w", insecure: true, image: DECKHOUSE_IMAGE, ca });
  });

  test("a registry entry without credentials gives an anonymous source", async () => {
    const d = await declare({ secretData: registrySecretData({}) });
    expect(secretJson(d.of("kubernetes:core/v1:Secret"), "d8-repo.json")).toEqual({ insecure: false, image: DECKHOUSE_IMAGE });
  });

  test("the deckhouse container's proxy variables: values in the Secret, the Job refers to them; references stay", async () => {
    const proxyUrl = `http://proxy-user:${PROXY_PASSWORD}@squid.corp:3128`;
    const d = await declare({
      env: [
        { name: "ADDON_OPERATOR_NAMESPACE", value: "d8-system" },
        { name: "HTTP_PROXY", value: proxyUrl },
        { name: "HTTPS_PROXY", value: proxyUrl },
        { name: "no_proxy", value: "127.0.0.1,cluster.local,10.222.0.0/16" },
        { name: "NO_PROXY", valueFrom: { configMapKeyRef: { name: "proxy", key: "no-proxy" } } },
      ],
    });
    const env = d.of("kubernetes:batch/v1:Job").inputs.spec.template.spec.containers[0].env;
    const ref = (key: string) => ({ secretKeyRef: { name: "images-copier-config", key } });
    expect(env).toEqual([
      { name: "HOME", value: "/tmp" },
      { name: "NODE_ENV", value: "production" },
      { name: "HTTP_PROXY", valueFrom: ref("proxy.HTTP_PROXY") },
      { name: "HTTPS_PROXY", valueFrom: ref("proxy.HTTPS_PROXY") },
      { name: "no_proxy", valueFrom: ref("proxy.no_proxy") },
      { name: "NO_PROXY", valueFrom: { configMapKeyRef: { name: "proxy", key: "no-proxy" } } },
    ]);
    const data = d.of("kubernetes:core/v1:Secret").inputs.data.value;
    expect(unb64(data["proxy.HTTPS_PROXY"])).toBe(proxyUrl);
    expect(unb64(data["proxy.no_proxy"])).toBe("127.0.0.1,cluster.local,10.222.0.0/16");
    const plain = JSON.stringify(d.declared.filter((x) => x.type !== "kubernetes:core/v1:Secret").map((x) => x.inputs));
    expect(plain).not.toContain(PROXY_PASSWORD);
  });

  test("copyUpdateImages and uploadChunkMiB reach the copier's command; the record says whether update images were copied", async () => {
    const d = await declare({ overrides: { copyUpdateImages: true, uploadChunkMiB: 50 } });
    expect(d.of("kubernetes:batch/v1:Job").inputs.spec.template.spec.containers[0].command.slice(-3)).toEqual(["--with-update-images", "--chunk-size", "50"]);
    if (!PREVIEW) expect(await value(pulumi.output(d.stage.outputs.copy))).toMatchObject({ updateImages: true });
  });

  test("copierBundled: no bundle is read, no ConfigMap, no copier volume; the image's own copier runs at the same path", async () => {
    const log = jest.spyOn(console, "log").mockImplementation(() => undefined); // the SDK mocks print pulumi.log lines
    // on another registry than the target's: used as set, pulled with deckhouse-registry alone
    const d = await declare({ overrides: { copierBundled: true, copierImage: "registry.tools.example/tools/images-copier:0.1.0" } });
    expect(d.declared.filter((x) => x.type === "pulumi-nodejs:dynamic:CopierBundle")).toEqual([]);
    const pod = d.of("kubernetes:batch/v1:Job").inputs.spec.template.spec;
    expect(pod.volumes.map((v: { name: string }) => v.name)).toEqual(["config", "tmp", "images"]);
    expect(pod.containers[0].image).toBe("registry.tools.example/tools/images-copier:0.1.0");
    expect(pod.containers[0].command.slice(0, 3)).toEqual(["node", "/opt/images-copier/images-copier.cjs", "copy"]);
    expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }]);
    const run = d.of("pulumi-nodejs:dynamic:CopyRun");
    expect(run.inputs.configMapName).toBeUndefined();
    expect(run.inputs.pullSecretName).toBeUndefined();
    expect(d.stage.outputs.copierImage).toEqual({ image: "registry.tools.example/tools/images-copier:0.1.0", configured: "registry.tools.example/tools/images-copier:0.1.0", copier: "copierBundled" });
    expect(log.mock.calls.map((c) => c.join(" ")).filter((l) => !l.includes("copy plan: "))).toEqual([
      "info: [runtime] images-copier: the cluster admits every write (server-side dry runs): create Secret d8-system/images-copier-config as kubeconfig user test; create Job d8-system/copy-images as kubeconfig user test",
      "info: [runtime] images-copier: the Job runs registry.tools.example/tools/images-copier:0.1.0 with the image's own copier (copierBundled)",
    ]);
    log.mockRestore();
  });

  test("jobNodeSelector, jobTolerations, jobPriorityClassName place the Job's pod, said in the preview and the jobPlacement output; CopyRun gets unschedulableMinutes", async () => {
    const log = jest.spyOn(console, "log").mockImplementation(() => undefined); // the SDK mocks print pulumi.log lines
    const overrides = { jobNodeSelector: '{"node-role.deckhouse.io/system":""}', jobTolerations: '[{"key":"dedicated.deckhouse.io","operator":"Exists"}]', jobPriorityClassName: "copier-high", unschedulableMinutes: 2 };
    const d = await declare({ overrides });
    const placement = { nodeSelector: { "node-role.deckhouse.io/system": "" }, tolerations: [{ key: "dedicated.deckhouse.io", operator: "Exists" }], priorityClassName: "copier-high" };
    expect(d.of("kubernetes:batch/v1:Job").inputs.spec.template.spec).toMatchObject(placement);
    expect(d.of("pulumi-nodejs:dynamic:CopyRun").inputs.unschedulableMinutes).toBe(2);
    expect(d.stage.outputs.jobPlacement).toEqual({ ...placement, unschedulableMinutes: 2 });
    // said once (the write proofs' and the copy plan's lines are logged too: their own tests assert them)
    expect(log.mock.calls.map((c) => c.join(" ")).filter((line) => line.includes("the copy Job's pod"))).toEqual([
      `info: [runtime] images-copier: the copy Job's pod: nodeSelector {"node-role.deckhouse.io/system":""}, tolerations [{"key":"dedicated.deckhouse.io","operator":"Exists"}], priorityClassName copier-high; the run fails when the scheduler cannot place it for 2 minutes (unschedulableMinutes)`,
    ]);
    log.mockRestore();
    // unset: the pod as before, the default wait recorded
    const plain = await declare();
    expect(plain.of("kubernetes:batch/v1:Job").inputs.spec.template.spec).not.toHaveProperty("tolerations");
    expect(plain.stage.outputs.jobPlacement).toEqual({ unschedulableMinutes: 5 });
  });

  test("another runId, concurrency, timeout or copier build gives another run key; the same config the same one", async () => {
    const key = async (overrides: Record<string, unknown>, bundle = BUNDLE) => {
      const d = await declare({ overrides, bundle });
      return d.of("kubernetes:core/v1:Secret").inputs.metadata.annotations["images-copier.deckhouse.io/run-key"] as string;
    };
    const base = await key({});
    expect(await key({})).toBe(base);
    const rebuilt = join(work, "rebuilt.cjs");
    writeFileSync(rebuilt, `${BUNDLE_TEXT}// v2\n`);
    const others = [await key({ runId: "2" }), await key({ concurrency: 3 }), await key({ timeoutMinutes: 30 }), await key({}, rebuilt)];
    expect(new Set([base, ...others]).size).toBe(5);
  });
});

describe(`a copierImage in the target registry${PREVIEW ? " in preview" : ""}`, () => {
  const PUBLISHED = "registry.customer.example/tools/images-copier";
  const DIGEST = `sha256:${"1".repeat(64)}`;
  const BUNDLE_DIGEST = `sha256:${"2".repeat(64)}`;
  const published = (digest = DIGEST, labelled = true): InspectedCopierImage => ({
    pinned: `${PUBLISHED}@${digest}`,
    digest,
    mediaType: "application/vnd.oci.image.index.v1+json",
    platforms: [
      { platform: "linux/amd64", digest: `sha256:${"3".repeat(64)}` },
      { platform: "linux/arm64", digest: `sha256:${"4".repeat(64)}` },
    ].map((p) => ({ ...p, labels: labelled ? { "io.deckhouse.images-copier.bundle-digest": BUNDLE_DIGEST, "io.deckhouse.images-copier.version": "0.1.0" } : ({} as Record<string, string>) })),
    ...(labelled ? { copier: { bundleDigest: BUNDLE_DIGEST, version: "0.1.0" } } : {}),
  });
  /** An inspector that records what it was asked and answers `answer`. */
  function inspector(answer: InspectedCopierImage | Error) {
    const calls: Array<{ reference: string; access: Parameters<CopierImageInspector>[1] }> = [];
    const inspect: CopierImageInspector = async (reference, access) => {
      calls.push({ reference, access });
      if (answer instanceof Error) throw answer;
      return answer;
    };
    return { calls, inspect };
  }
  const named = (d: Declaration, type: string, name: string) => {
    const found = d.declared.filter((x) => x.type === type && x.name === name && !x.id);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  // Without an engine, the SDK's mocks print pulumi.log lines with console.log: caught here, and looked at.
  let logged: string[] = [];
  beforeEach(() => {
    logged = [];
    jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
  });
  afterEach(() => jest.restoreAllMocks());

  test("published by publish-image, given by tag: pinned by digest, pulled with a pull Secret of the target credentials, run with its own copier", async () => {
    const { calls, inspect } = inspector(published());
    const d = await declare({ overrides: { copierImage: `${PUBLISHED}:0.1.0`, targetCA: ca }, inspect });
    // read once, in the target registry, with the target credentials and CA
    expect(calls).toEqual([{ reference: `${PUBLISHED}:0.1.0`, access: expect.objectContaining({ username: "robot", password: TARGET_PASSWORD, insecure: false, ca }) }]);
    expect(d.declared.map((x) => `${x.type} ${x.name}`).slice(1).sort()).toEqual([
      "kubernetes:batch/v1:Job copy-images",
      "kubernetes:core/v1:Secret images-copier-config",
      "kubernetes:core/v1:Secret images-copier-registry",
      "pulumi-nodejs:dynamic:CopyRun copy-run",
    ]);

    const pull = named(d, "kubernetes:core/v1:Secret", "images-copier-registry");
    const config = named(d, "kubernetes:core/v1:Secret", "images-copier-config");
    expect(pull.inputs.type).toBe("kubernetes.io/dockerconfigjson");
    expect(pull.inputs.immutable).toBe(true);
    // a run object: the run key of the run's other objects, replaced with them
    expect(pull.inputs.metadata).toEqual({ ...config.inputs.metadata, name: "images-copier-registry" });
    expect(optionsOf(d, "kubernetes:core/v1:Secret", "images-copier-registry")).toMatchObject({ deleteBeforeReplace: true, replaceOnChanges: ["*"] });
    expect(isSecretWrapped(pull.inputs.data)).toBe(true);
    expect(Object.keys(pull.inputs.data.value)).toEqual([".dockerconfigjson"]);
    expect(JSON.parse(unb64(pull.inputs.data.value[".dockerconfigjson"]))).toEqual({
      auths: { "registry.customer.example": { username: "robot", password: TARGET_PASSWORD, auth: b64(`robot:${TARGET_PASSWORD}`) } },
    });

    const job = d.of("kubernetes:batch/v1:Job").inputs;
    const pod = job.spec.template.spec;
    expect(pod.containers[0].image).toBe(`${PUBLISHED}@${DIGEST}`);
    // deckhouse-registry stays for the init container, which runs the current Deckhouse image
    expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }, { name: "images-copier-registry" }]);
    expect(pod.initContainers.map((c: { image: string }) => c.image)).toEqual([DECKHOUSE_IMAGE]);
    // the image's own copier: no ConfigMap is made or mounted, no bundle read
    expect(d.declared.filter((x) => x.type === "pulumi-nodejs:dynamic:CopierBundle")).toEqual([]);
    expect(pod.volumes.map((v: { name: string }) => v.name)).toEqual(["config", "tmp", "images"]);
    expect(pod.containers[0].command.slice(0, 3)).toEqual(["node", "/opt/images-copier/images-copier.cjs", "copy"]);

    const uidAnnotation = job.spec.template.metadata.annotations["images-copier.deckhouse.io/pull-secret-uid"];
    const run = d.of("pulumi-nodejs:dynamic:CopyRun").inputs;
    expect(run.pullSecretName).toBe("images-copier-registry");
    if (PREVIEW) {
      expect(pulumi.isUnknown(uidAnnotation)).toBe(true);
    } else {
      expect(uidAnnotation).toMatch(/^uid-images-copier-registry-/);
      expect(run.pullSecretUid).toBe(uidAnnotation);
    }
    // the preview says what runs and why there is no ConfigMap
    expect(logged.filter((l: string) => !l.includes("copy plan: "))).toEqual([
      // the pull Secret's create is proven with the others (no ConfigMap: the image holds the copier)
      "info: [runtime] images-copier: the cluster admits every write (server-side dry runs): create Secret d8-system/images-copier-config as kubeconfig user test; create Secret d8-system/images-copier-registry as kubeconfig user test; create Job d8-system/copy-images as kubeconfig user test",
      `info: [runtime] images-copier: the Job runs ${PUBLISHED}@${DIGEST} (${PUBLISHED}:0.1.0 pinned by digest) with the image's own copier ` +
        `(label io.deckhouse.images-copier.bundle-digest=${BUNDLE_DIGEST}, version 0.1.0: published by publish-image, so copierBundled applies and no ConfigMap is made); ` +
        "pulled with Secret d8-system/images-copier-registry (the target credentials)",
    ]);
    expect(d.stage.outputs.copierImage).toEqual({
      image: `${PUBLISHED}@${DIGEST}`,
      configured: `${PUBLISHED}:0.1.0`,
      copier: "image-label",
      bundleDigest: BUNDLE_DIGEST,
      version: "0.1.0",
      pullSecret: "images-copier-registry",
    });
    // only the two Secrets' data (secret-wrapped) hold a credential
    const plain = JSON.stringify(d.declared.map((x) => (x.type === "kubernetes:core/v1:Secret" ? { ...x.inputs, data: "[secret]" } : x.inputs)));
    for (const secret of [TARGET_PASSWORD, b64(TARGET_PASSWORD), b64(`robot:${TARGET_PASSWORD}`), JSON.stringify(TARGET_PASSWORD).slice(1, -1)]) expect(plain).not.toContain(secret);
    expect(JSON.stringify(d.stage.outputs)).not.toContain(TARGET_PASSWORD);
  });

  test("given by digest: used exactly as given; an unlabelled image (a node mirror) still gets the ConfigMap's copier", async () => {
    const byDigest = `${PUBLISHED}:0.1.0@${DIGEST}`;
    const d = await declare({ overrides: { copierImage: byDigest }, inspect: inspector(published()).inspect });
    expect(d.of("kubernetes:batch/v1:Job").inputs.spec.template.spec.containers[0].image).toBe(byDigest);

    const mirror = "registry.customer.example/mirror/node:20-bookworm-slim";
    const m = await declare({ overrides: { copierImage: mirror }, inspect: inspector({ ...published(DIGEST, false), pinned: `registry.customer.example/mirror/node@${DIGEST}` }).inspect });
    const pod = m.of("kubernetes:batch/v1:Job").inputs.spec.template.spec;
    expect(pod.containers[0].image).toBe(`registry.customer.example/mirror/node@${DIGEST}`);
    expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }, { name: "images-copier-registry" }]);
    expect(m.of("pulumi-nodejs:dynamic:CopierBundle").name).toBe("copier-bundle");
    expect(pod.volumes.map((v: { name: string }) => v.name)).toEqual(["config", "copier", "tmp", "images"]);
    expect(m.stage.outputs.copierImage).toMatchObject({ copier: "configmap", pullSecret: "images-copier-registry" });
  });

  test("the tag republished (another digest) or other target credentials: another run key, so a new run", async () => {
    const key = async (digest: string, password = TARGET_PASSWORD) => {
      const d = await declare({ overrides: { copierImage: `${PUBLISHED}:0.1.0`, targetPassword: password }, inspect: inspector(published(digest)).inspect });
      return named(d, "kubernetes:core/v1:Secret", "images-copier-registry").inputs.metadata.annotations["images-copier.deckhouse.io/run-key"] as string;
    };
    const first = await key(DIGEST);
    expect(await key(DIGEST)).toBe(first);
    expect(await key(`sha256:${"5".repeat(64)}`)).not.toBe(first);
  });

  test("a tag the registry lacks: refused in one line naming it and saying to run publish-image; nothing read from the cluster or declared", async () => {
    const missing = `${PUBLISHED}:0.2.0`;
    const before = kube.requests.length;
    const { staged, seen } = start({ overrides: { copierImage: missing }, inspect: inspector(new ImageNotFoundError(`${missing}: the registry has no such image (MANIFEST_UNKNOWN)`)).inspect });
    const error = await staged.then(() => undefined, (e: Error) => e);
    expect(error).toBeInstanceOf(pulumi.RunError);
    expect(error?.message).toBe(
      `images-copier: copierImage ${missing} is not in the target registry; publish it there first: npx images-copier publish-image --target ${missing} (then set copierImage to the reference it prints, or keep the tag)`,
    );
    expect(seen).toEqual([]);
    expect(kube.requests.length).toBe(before);
  });

  test("a registry that refuses the credentials: one line with the registry's reason, no password", async () => {
    const refused = new Error(`GET manifest ${PUBLISHED}:0.1.0: HTTP 401 unauthorized (wrong credentials?)`);
    const { staged, seen } = start({ overrides: { copierImage: `${PUBLISHED}:0.1.0` }, inspect: inspector(refused).inspect });
    const error = await staged.then(() => undefined, (e: Error) => e);
    expect(error?.message).toBe(`images-copier: cannot read copierImage ${PUBLISHED}:0.1.0 from the target registry: ${refused.message}`);
    expect(error?.message).not.toContain(TARGET_PASSWORD);
    expect(seen).toEqual([]);
  });
});

describe("stack config errors: one clear message each", () => {
  const base = { stage: "copy", targetUsername: "robot", targetPassword: "x" };
  test("no tag in targetImage", () => {
    expect(() => parseStackConfig({ ...base, targetImage: "registry.customer.example/deckhouse/ee" })).toThrow(
      /^images-copier: targetImage "registry.customer.example\/deckhouse\/ee" has no tag; a tag is mandatory/,
    );
  });
  test("malformed image", () => {
    expect(() => parseStackConfig({ ...base, targetImage: "Registry.example/DeckHouse/ee:tag" })).toThrow(/invalid repository path/);
    expect(() => parseStackConfig({ ...base, targetImage: "registry.example/deckhouse/ee:bad tag" })).toThrow(/white space/);
  });
  test("missing password", () => {
    expect(() => parseStackConfig({ stage: "copy", targetUsername: "robot", targetImage: "r.example/d/ee:t" })).toThrow(
      /^images-copier: targetPassword is required \(pulumi config set --secret targetPassword …\)$/,
    );
  });
  test("a deckhouseVersion that is not a version", () => {
    expect(() => parseStackConfig({ ...base, targetImage: "r.example/d/ee:t", deckhouseVersion: "latest" })).toThrow(
      /^images-copier: deckhouseVersion "latest" is not a Deckhouse version \(e\.g\. v1\.58\.2\)$/,
    );
    expect(parseStackConfig({ ...base, targetImage: "r.example/d/ee:t", deckhouseVersion: "v1.60.2" })).toMatchObject({ deckhouseVersion: "v1.60.2" });
  });
});
