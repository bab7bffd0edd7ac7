// The copy stack under Pulumi's SDK mocks: what is declared for a given config (Secret keys and JSON contents,
// Job and pod spec, hardening, ConfigMap), in preview mode too, and that every credential stays a Pulumi secret.
import * as pulumi from "@pulumi/pulumi";
import { CopyStage } from "../../components/copy/stage";
import { requireVerifiedCopy } from "../../components/switch/copy-check";
import { parseStackConfig, type CopyStageConfig } from "../../stack-config";

const TARGET_PASSWORD = 'tgt-Pa:ss"word';
const SOURCE_PASSWORD = "license:key:with:colons";
const BUNDLE = "/* bundled copier */ console.log('images-copier');\n";
const DECKHOUSE_IMAGE = "registry.deckhouse.io/deckhouse/ee:v1.46.3";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

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

// One mock monitor per test file (a component registers its outputs later, on the monitor it was created with).
const PREVIEW = process.env.COPY_STAGE_PREVIEW === "1";
let declared: Declared[] = [];
let clusterSecretData: Record<string, string> = {};
let deckhouseEnv: Array<Record<string, unknown>> | undefined;

pulumi.runtime.setMocks(
  {
    newResource(args) {
      declared.push({ type: args.type, name: args.name, inputs: args.inputs, id: args.id });
      if (args.type === "kubernetes:core/v1:Secret" && args.id) {
        return { id: args.id, state: { apiVersion: "v1", kind: "Secret", metadata: { name: "deckhouse-registry", namespace: "d8-system" }, type: "kubernetes.io/dockerconfigjson", data: clusterSecretData } };
      }
      if (args.type === "kubernetes:apps/v1:Deployment" && args.id) {
        return {
          id: args.id,
          state: {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "deckhouse", namespace: "d8-system" },
            spec: { template: { spec: { containers: [{ name: "kube-rbac-proxy", image: "other:1" }, { name: "deckhouse", image: DECKHOUSE_IMAGE, env: deckhouseEnv }] } } },
          },
        };
      }
      if (args.type === "pulumi-nodejs:dynamic:CopyRun" && !PREVIEW) {
        // what CopyRun's create() returns after a successful run
        const summary = { images: 3, copied: 2, skipped: 1, failed: 0, bytes: 2048, bytesHuman: "2.0 KiB", durationSeconds: 4, target: args.inputs.manifests?.value?.target };
        return { id: `${args.name}-id`, state: { ...args.inputs, status: "succeeded", summary } };
      }
      return { id: PREVIEW ? "" : `${args.name}-id`, state: args.inputs };
    },
    call: () => ({}),
  },
  "images-copier",
  "copy",
  PREVIEW,
);

function mockCluster(secretData: Record<string, string>): Declared[] {
  declared = [];
  clusterSecretData = secretData;
  return declared;
}

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

let counter = 0;
async function declare(opts: { overrides?: Record<string, unknown>; secretData?: Record<string, string> } = {}) {
  const declared = mockCluster(opts.secretData ?? registrySecretData({ auth: b64(`license-token:${SOURCE_PASSWORD}`) }));
  const stage = new CopyStage(`copy${++counter}`, config(opts.overrides), { copierBundle: BUNDLE });
  const manifests = await value((stage.run as any).manifests as pulumi.Output<any>);
  // let the mock monitor receive the CopyRun registration
  await value(stage.run.urn);
  return { stage, declared, manifests };
}

function secretJson(manifests: any, key: string): any {
  return JSON.parse(unb64(manifests.secret.data[key]));
}

describe(`copy stage${PREVIEW ? " in preview" : ""}`, () => {
  test("reads the cluster, then declares one CopyRun carrying Secret, ConfigMap and Job", async () => {
    const { declared, manifests } = await declare();
    const reads = declared.filter((d) => d.id);
    expect(reads.map((d) => `${d.type} ${d.id}`).sort()).toEqual([
      "kubernetes:apps/v1:Deployment d8-system/deckhouse",
      "kubernetes:core/v1:Secret d8-system/deckhouse-registry",
    ]);
    const runs = declared.filter((d) => d.type === "pulumi-nodejs:dynamic:CopyRun");
    expect(runs).toHaveLength(1);
    expect(runs[0].inputs.runId).toBe("1");
    expect(runs[0].inputs.namespace).toBe("d8-system");
    expect(runs[0].inputs.timeoutMinutes).toBe(360);
    // nothing else touches the cluster: no plain Job or Secret resource that refresh could drop
    expect(declared.filter((d) => !d.id && d.type.startsWith("kubernetes:"))).toEqual([]);

    expect(manifests.secret.metadata).toEqual({
      name: "images-copier-config",
      namespace: "d8-system",
      labels: { heritage: "deckhouse", app: "d8-images-copier" },
      annotations: { "images-copier.deckhouse.io/run-id": "1" },
    });
    expect(Object.keys(manifests.secret.data).sort()).toEqual(["d8-repo.json", "dest-repo.json"]);
    expect(secretJson(manifests, "dest-repo.json")).toEqual({
      username: "robot",
      password: TARGET_PASSWORD,
      insecure: false,
      image: "registry.customer.example/deckhouse/ee:rock-solid-1.46",
    });
    expect(secretJson(manifests, "d8-repo.json")).toEqual({
      username: "license-token",
      password: SOURCE_PASSWORD,
      insecure: false,
      image: DECKHOUSE_IMAGE,
    });
    expect(manifests.configMap.metadata.name).toBe("images-copier-bundle");
    expect(manifests.configMap.data).toEqual({ "images-copier.cjs": BUNDLE });
  });
});

test("the Job: labels, backoff, pull secret, config mount, init container listing the release's images", async () => {
  const { manifests } = await declare({ overrides: { concurrency: 12, copierImage: "node:20.18-bookworm-slim" } });
  const job = manifests.job;
  expect(job.apiVersion).toBe("batch/v1");
  expect(job.metadata.name).toBe("copy-images");
  expect(job.metadata.namespace).toBe("d8-system");
  expect(job.metadata.labels).toEqual({ heritage: "deckhouse", app: "d8-images-copier" });
  expect(job.spec.backoffLimit).toBe(0);
  const pod = job.spec.template.spec;
  expect(pod.restartPolicy).toBe("Never");
  expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }]);
  expect(pod.automountServiceAccountToken).toBe(false);

  const [copier] = pod.containers;
  expect(pod.containers).toHaveLength(1);
  expect(copier.image).toBe("node:20.18-bookworm-slim");
  expect(copier.command).toEqual([
    "node", "/opt/images-copier/images-copier.cjs", "copy", "--config-dir", "/config", "--images", "/images/images.json", "--concurrency", "12",
  ]);
  expect(copier.volumeMounts).toEqual(expect.arrayContaining([
    { name: "config", mountPath: "/config", readOnly: true },
    { name: "copier", mountPath: "/opt/images-copier", readOnly: true },
    { name: "images", mountPath: "/images", readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
  ]));
  expect(pod.volumes).toEqual(expect.arrayContaining([
    { name: "config", secret: { secretName: "images-copier-config", defaultMode: 0o400 } },
    { name: "copier", configMap: { name: "images-copier-bundle", defaultMode: 0o444 } },
  ]));

  expect(pod.initContainers).toHaveLength(1);
  const [init] = pod.initContainers;
  expect(init.image).toBe(DECKHOUSE_IMAGE);
  expect(init.command).toEqual([
    "sh", "-c",
    "cp /deckhouse/modules/images_digests.json /images/images.json 2>/dev/null || cp /deckhouse/modules/images_tags.json /images/images.json",
  ]);
  expect(init.volumeMounts).toEqual([{ name: "images", mountPath: "/images" }]);
});

test("the pod is hardened: non-root, read-only root, no capabilities, RuntimeDefault seccomp, limits", async () => {
  const { manifests } = await declare();
  const pod = manifests.job.spec.template.spec;
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
  expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
  for (const container of [...pod.containers, ...pod.initContainers]) {
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(Object.keys(container.resources.requests).sort()).toEqual(expect.arrayContaining(["cpu", "memory"]));
    expect(Object.keys(container.resources.limits).sort()).toEqual(expect.arrayContaining(["cpu", "memory"]));
  }
});

test("imagesFile puts d8-images.json into the Secret and drops the init container", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "images-file-"));
  try {
    const list = { common: { kubeRbacProxy: `sha256:${"a".repeat(64)}` }, nodeManager: { bashibleApiserver: `${"b".repeat(56)}-1650502544870` } };
    writeFileSync(join(dir, "images.json"), JSON.stringify(list));
    const { manifests } = await declare({ overrides: { imagesFile: join(dir, "images.json") } });
    expect(Object.keys(manifests.secret.data).sort()).toEqual(["d8-images.json", "d8-repo.json", "dest-repo.json"]);
    expect(secretJson(manifests, "d8-images.json")).toEqual(list);
    const pod = manifests.job.spec.template.spec;
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers[0].command).not.toContain("--images");
    expect(pod.volumes.map((v: { name: string }) => v.name)).not.toContain("images");

    // a list the copier would refuse fails while the program runs (preview too), with one line, before anything is declared
    const bad: Array<[unknown, RegExp]> = [
      [{ common: "not-two-levels" }, /^images-copier:imagesFile: .*bad\.json: common: .*exactly two levels\)$/],
      [{ common: { kubeRbacProxy: "not a tag!" } }, /^images-copier:imagesFile: .*bad\.json: common\.kubeRbacProxy: must be a tag or a sha256 digest/],
      [{ common: { kubeRbacProxy: "sha256:abc" } }, /^images-copier:imagesFile: .*bad\.json: common\.kubeRbacProxy: must be a tag or a sha256 digest/],
      [{}, /^images-copier:imagesFile: .*bad\.json: the image list is empty/],
    ];
    for (const [list, message] of bad) {
      writeFileSync(join(dir, "bad.json"), JSON.stringify(list));
      const seen = mockCluster(registrySecretData({}));
      let error: Error | undefined;
      try {
        new CopyStage(`bad${++counter}`, config({ imagesFile: join(dir, "bad.json") }), { copierBundle: BUNDLE });
      } catch (e) {
        error = e as Error;
      }
      expect(error?.message).toMatch(message);
      expect(error?.message).not.toContain("\n");
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seen.filter((d) => d.type !== "images-copier:index:CopyStage")).toEqual([]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("target CA and insecure flags reach dest-repo.json; http scheme and CA of the source reach d8-repo.json", async () => {
  const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const { manifests } = await declare({
    overrides: { targetCA: ca, targetInsecure: true },
    secretData: registrySecretData({ username: "u", password: "p:w" }, { scheme: "http", ca }),
  });
  expect(secretJson(manifests, "dest-repo.json")).toMatchObject({ insecure: true, ca });
  expect(secretJson(manifests, "d8-repo.json")).toEqual({ username: "u", password: "p:w", insecure: true, image: DECKHOUSE_IMAGE, ca });
});

test("a registry entry without credentials gives an anonymous source", async () => {
  const { manifests } = await declare({ secretData: registrySecretData({}) });
  expect(secretJson(manifests, "d8-repo.json")).toEqual({ insecure: false, image: DECKHOUSE_IMAGE });
});

test("credentials are Pulumi secrets and absent from the serialized provider", async () => {
  const { stage, declared } = await declare();
  expect(await pulumi.isSecret((stage.run as any).manifests)).toBe(true);
  const run = declared.find((d) => d.type === "pulumi-nodejs:dynamic:CopyRun");
  // the engine receives the manifests (all credentials) wrapped as a secret
  expect(run?.inputs.manifests[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
  expect(JSON.stringify(run?.inputs.manifests.value)).toContain(b64(JSON.stringify({ username: "robot", password: TARGET_PASSWORD, insecure: false, image: "registry.customer.example/deckhouse/ee:rock-solid-1.46" })));
  const providerText: string = run?.inputs.__provider;
  expect(typeof providerText).toBe("string");
  expect(providerText).toContain("exports.handler");
  for (const secret of [TARGET_PASSWORD, SOURCE_PASSWORD, b64(`license-token:${SOURCE_PASSWORD}`)]) {
    expect(providerText).not.toContain(secret);
  }
  // the stage's own outputs carry no credential
  expect(Object.keys(stage.outputs).sort()).toEqual(["copy", "finishedAt", "message", "plan", "runId", "sourceImage", "status", "summary", "targetImage"]);
  expect(await value(pulumi.output(stage.outputs.sourceImage))).toBe(DECKHOUSE_IMAGE);
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
    let message = "";
    try {
      parseStackConfig({ stage: "copy", targetUsername: "robot", targetImage: "r.example/d/ee:t" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe("images-copier: targetPassword is required (pulumi config set --secret targetPassword …)");
  });
});

test("the copy output is what the switch stack's gate accepts after a successful run", async () => {
  const { stage } = await declare();
  if (PREVIEW) {
    // nothing has run in a preview: the outcome is unknown, so a switch preview against it cannot pass
    expect(await (pulumi.output(stage.outputs.copy) as any).isKnown).toBe(false);
    return;
  }
  const copy = await value(pulumi.output(stage.outputs.copy));
  expect(copy).toMatchObject({ status: "succeeded", verified: true, targetImage: "registry.customer.example/deckhouse/ee:rock-solid-1.46", images: 3, copied: 2, skipped: 1, durationMs: 4000 });
  // This copy stack does not record the release yet (sourceImage, sourceDigest, …: the copy stack's issue), so the
  // switch refuses its record as an older copy stack's, with the advice to copy again.
  expect(() => requireVerifiedCopy(copy, "registry.customer.example/deckhouse/ee:rock-solid-1.46", "copy")).toThrow(/comes from an older copy stack: its "copy" output lacks sourceImage/);
  expect(() => requireVerifiedCopy(copy, "registry.customer.example/deckhouse/ee:other-tag", "copy")).toThrow(/refusing to switch/);
});

test("copierBundled: no bundle is loaded, no ConfigMap, no copier volume; the image's own copier runs at the same path", async () => {
  const saved = process.env.IMAGES_COPIER_BUNDLE;
  process.env.IMAGES_COPIER_BUNDLE = "/nonexistent/images-copier.cjs"; // loading a bundle would throw
  try {
    const declared = mockCluster(registrySecretData({ auth: b64(`license-token:${SOURCE_PASSWORD}`) }));
    const stage = new CopyStage(`bundled${++counter}`, config({ copierBundled: true, copierImage: "registry.customer.example/tools/images-copier:0.1.0" }));
    const manifests = await value((stage.run as any).manifests as pulumi.Output<any>);
    await value(stage.run.urn);
    expect(manifests.configMap).toBeUndefined();
    const pod = manifests.job.spec.template.spec;
    expect(pod.volumes.map((v: { name: string }) => v.name)).not.toContain("copier");
    expect(pod.containers[0].volumeMounts.map((m: { mountPath: string }) => m.mountPath)).not.toContain("/opt/images-copier");
    expect(pod.containers[0].image).toBe("registry.customer.example/tools/images-copier:0.1.0");
    expect(pod.containers[0].command.slice(0, 3)).toEqual(["node", "/opt/images-copier/images-copier.cjs", "copy"]);
    expect(declared.filter((d) => d.type === "pulumi-nodejs:dynamic:CopyRun")).toHaveLength(1);
  } finally {
    if (saved === undefined) delete process.env.IMAGES_COPIER_BUNDLE;
    else process.env.IMAGES_COPIER_BUNDLE = saved;
  }
});

test("plan: what will run, as plain (non-secret) values without any credential", async () => {
  const { stage, declared } = await declare({ overrides: { concurrency: 5, runId: "3" } });
  const run = declared.find((d) => d.type === "pulumi-nodejs:dynamic:CopyRun");
  // the engine receives the plan unwrapped: preview shows it
  expect(run?.inputs.plan[pulumi.runtime.specialSigKey]).toBeUndefined();
  expect(await pulumi.isSecret(pulumi.output(stage.outputs.plan))).toBe(false);
  const plan = await value(pulumi.output(stage.outputs.plan) as pulumi.Output<any>);
  expect(plan).toEqual({
    namespace: "d8-system",
    jobName: "copy-images",
    runId: "3",
    copierImage: "node:20-bookworm-slim",
    initImage: DECKHOUSE_IMAGE,
    command: ["node", "/opt/images-copier/images-copier.cjs", "copy", "--config-dir", "/config", "--images", "/images/images.json", "--concurrency", "5"],
    secretName: "images-copier-config",
    secretKeys: ["d8-repo.json", "dest-repo.json"],
    copierConfigMap: { name: "images-copier-bundle", bytes: Buffer.byteLength(BUNDLE) },
    targetImage: "registry.customer.example/deckhouse/ee:rock-solid-1.46",
    concurrency: 5,
    activeDeadlineSeconds: 360 * 60 + 60,
  });
  const text = JSON.stringify(run?.inputs.plan);
  for (const secret of [TARGET_PASSWORD, SOURCE_PASSWORD, b64(`license-token:${SOURCE_PASSWORD}`), "robot", "license-token"]) {
    expect(text).not.toContain(secret);
  }
});

test("copyUpdateImages: the Job's copier also copies the release-channel and install sub-repositories", async () => {
  const without = await declare();
  expect(without.manifests.job.spec.template.spec.containers[0].command).not.toContain("--with-update-images");
  const { manifests, declared } = await declare({ overrides: { copyUpdateImages: true } });
  expect(manifests.job.spec.template.spec.containers[0].command).toEqual([
    "node", "/opt/images-copier/images-copier.cjs", "copy", "--config-dir", "/config", "--images", "/images/images.json", "--concurrency", "8", "--with-update-images",
  ]);
  // the plain plan shown by `pulumi preview` says so too
  const run = declared.find((d) => d.type === "pulumi-nodejs:dynamic:CopyRun");
  expect(run?.inputs.plan.command).toContain("--with-update-images");
});

test("the copier inherits the deckhouse container's proxy variables; the plan names them, never their values", async () => {
  const proxyUrl = "http://proxy-user:Pr0xy-pass@squid.corp:3128";
  deckhouseEnv = [
    { name: "ADDON_OPERATOR_NAMESPACE", value: "d8-system" },
    { name: "HTTP_PROXY", value: proxyUrl },
    { name: "HTTPS_PROXY", value: proxyUrl },
    { name: "no_proxy", value: "127.0.0.1,169.254.169.254,cluster.local,10.222.0.0/16" },
    { name: "HTTPS_PROXY_CA", valueFrom: { secretKeyRef: { name: "proxy", key: "ca" } } },
  ];
  try {
    const { manifests, declared } = await declare();
    const env = manifests.job.spec.template.spec.containers[0].env;
    expect(env).toEqual([
      { name: "HOME", value: "/tmp" },
      { name: "NODE_ENV", value: "production" },
      { name: "HTTP_PROXY", value: proxyUrl },
      { name: "HTTPS_PROXY", value: proxyUrl },
      { name: "no_proxy", value: "127.0.0.1,169.254.169.254,cluster.local,10.222.0.0/16" },
    ]);
    const run = declared.find((d) => d.type === "pulumi-nodejs:dynamic:CopyRun");
    expect(run?.inputs.plan.proxyEnv).toEqual(["HTTP_PROXY", "HTTPS_PROXY", "no_proxy"]);
    expect(JSON.stringify(run?.inputs.plan)).not.toContain("Pr0xy-pass");
    expect(run?.inputs.manifests[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
  } finally {
    deckhouseEnv = undefined;
  }
  const { manifests } = await declare();
  expect(manifests.job.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name)).toEqual(["HOME", "NODE_ENV"]);
});

test("uploadChunkMiB: the copier uploads in chunks of that size from the start", async () => {
  const without = await declare();
  expect(without.manifests.job.spec.template.spec.containers[0].command).not.toContain("--chunk-size");
  const { manifests, declared } = await declare({ overrides: { uploadChunkMiB: 50 } });
  expect(manifests.job.spec.template.spec.containers[0].command.slice(-2)).toEqual(["--chunk-size", "50"]);
  const run = declared.find((d) => d.type === "pulumi-nodejs:dynamic:CopyRun");
  expect(run?.inputs.plan.command.slice(-2)).toEqual(["--chunk-size", "50"]);
});
