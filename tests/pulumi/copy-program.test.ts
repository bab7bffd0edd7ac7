// The whole program (index.ts) for a copy stack under SDK mocks, configured the way `pulumi config set` does, its
// reads answered by the Kubernetes API test server; and Pulumi.yaml's config schema kept in step with the zod schema.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { copyStageConfigSchema, readStackConfig } from "../../stack-config";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";

const dir = mkdtempSync(join(tmpdir(), "copy-program-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const declared: Array<{ type: string; name: string; inputs: any }> = [];

let kube: KubeApiServer;
beforeAll(async () => {
  kube = await startKubeApiServer();
});
afterAll(async () => {
  await kube?.stop();
});

test("index.ts validates the config once, reads the cluster with the stack's kubernetes:kubeconfig, declares the copy stage", async () => {
  const bundle = join(dir, "images-copier.cjs");
  writeFileSync(bundle, "/* test bundle */\n");
  process.env.IMAGES_COPIER_BUNDLE = bundle;
  kube.put(deckhouseDeployment({ containers: [{ name: "deckhouse", image: "registry.deckhouse.io/deckhouse/ee:v1.58.3" }], annotations: { "core.deckhouse.io/version": "v1.58.3" } }) as never);
  kube.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "deckhouse-registry", namespace: "d8-system" }, data: { ".dockerconfigjson": b64(JSON.stringify({ auths: { "registry.deckhouse.io": { auth: b64("license-token:k") } } })) } });
  pulumi.runtime.setAllConfig(
    {
      "images-copier:stage": "copy",
      "images-copier:targetImage": "registry.customer.example/deckhouse/ee:rock-solid-1.46",
      "images-copier:targetUsername": "robot",
      "images-copier:targetPassword": "s3cr3t-value",
      "images-copier:targetCA": "",
      "images-copier:imagesFile": "",
      "images-copier:deckhouseVersion": "",
      "images-copier:copyStack": "",
      "images-copier:runId": "7",
      "images-copier:concurrency": "3",
      "images-copier:targetInsecure": "false",
      "kubernetes:kubeconfig": kube.kubeconfigYaml,
    },
    ["images-copier:targetPassword", "kubernetes:kubeconfig"],
  );
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        declared.push({ type: args.type, name: args.name, inputs: args.inputs });
        if (args.type === "pulumi-nodejs:dynamic:CopyRun") {
          // what CopyRun's create() returns after a successful run
          const summary = { images: 1, copied: 1, skipped: 0, failed: 0, bytes: 1, durationMs: 1, source: args.inputs.sourceImage, sourceDigest: `sha256:${"1".repeat(64)}`, imagesDigest: `sha256:${"2".repeat(64)}` };
          return { id: "run-id", state: { ...args.inputs, status: "succeeded", summary } };
        }
        const uid = { metadata: { ...args.inputs.metadata, uid: `uid-${args.name}` } };
        return { id: `${args.name}-id`, state: { ...args.inputs, ...(args.inputs.metadata ? uid : { uid: `uid-${args.name}` }) } };
      },
      call: () => ({}),
    },
    "images-copier",
    "customer-a-copy",
  );
  try {
    const outputs = (await require("../../index")) as Record<string, unknown>;
    expect(outputs.sourceImage).toBe("registry.deckhouse.io/deckhouse/ee:v1.58.3");
    expect(outputs.targetImage).toBe("registry.customer.example/deckhouse/ee:rock-solid-1.46");
    const copy = await new Promise((resolve) => (outputs.copy as pulumi.Output<unknown>).apply(resolve));
    expect(copy).toMatchObject({ status: "succeeded", verified: true, runId: "7", sourceRepository: "registry.deckhouse.io/deckhouse/ee", deckhouseVersion: "v1.58.3" });
    expect(declared.map((d) => d.type)).toEqual([
      "images-copier:index:CopyStage",
      "kubernetes:core/v1:Secret",
      "pulumi-nodejs:dynamic:CopierBundle",
      "kubernetes:batch/v1:Job",
      "pulumi-nodejs:dynamic:CopyRun",
    ]);
    const run = declared.find((d) => d.type === "pulumi-nodejs:dynamic:CopyRun");
    expect(run?.inputs.runId).toBe("7");
    const job = declared.find((d) => d.type === "kubernetes:batch/v1:Job");
    expect(job?.inputs.spec.template.spec.containers[0].command).toEqual(expect.arrayContaining(["--concurrency", "3"]));
    // what the engine receives: the Secret's data wrapped as a secret (the SDK's secret signature), never plain
    const wrapped = declared.find((d) => d.type === "kubernetes:core/v1:Secret")?.inputs.data;
    expect(wrapped[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
    expect(JSON.parse(Buffer.from(wrapped.value["dest-repo.json"], "base64").toString())).toMatchObject({ password: "s3cr3t-value", image: "registry.customer.example/deckhouse/ee:rock-solid-1.46" });
    const bundleInputs = declared.find((d) => d.type === "pulumi-nodejs:dynamic:CopierBundle")?.inputs;
    expect(bundleInputs).toMatchObject({ path: bundle, bytes: Buffer.byteLength("/* test bundle */\n") });
    for (const d of declared) if (d.type !== "kubernetes:core/v1:Secret") expect(JSON.stringify(d.inputs)).not.toContain("s3cr3t-value");
    expect(JSON.stringify(declared)).not.toContain(kube.token); // the kubeconfig is config, never an input
  } finally {
    delete process.env.IMAGES_COPIER_BUNDLE;
  }
});

test("Pulumi.yaml declares every key the program reads, with the same defaults, and the password as a secret", () => {
  const { loadYaml } = require("@kubernetes/client-node") as { loadYaml(text: string): any };
  const project = loadYaml(readFileSync(join(__dirname, "../../Pulumi.yaml"), "utf8"));
  expect(project.name).toBe("images-copier");
  expect(project.runtime).toEqual({ name: "nodejs", options: { typescript: true } });
  const schema = project.config as Record<string, { type: string; default?: unknown; secret?: boolean }>;

  const read: string[] = [];
  try {
    readStackConfig({ get: (key) => (read.push(key), undefined) });
  } catch {
    // nothing set: only the keys it asked for matter here
  }
  expect(Object.keys(schema).sort()).toEqual([...new Set(read)].sort());
  expect(schema.targetPassword).toMatchObject({ type: "string", secret: true });
  for (const key of ["stage", "targetImage", "targetUsername", "targetPassword"]) expect(schema[key].default).toBeUndefined();

  // the defaults the program applies when Pulumi.yaml's defaults reach it
  const values: Record<string, string> = { stage: "copy", targetImage: "r.example/d/ee:t", targetUsername: "u", targetPassword: "p" };
  for (const [key, decl] of Object.entries(schema)) if (decl.default !== undefined) values[key] = String(decl.default);
  const parsed = readStackConfig({ get: (key) => values[key] });
  const zodDefaults = copyStageConfigSchema.parse({ stage: "copy", targetImage: "r.example/d/ee:t", targetUsername: "u", targetPassword: "p" });
  expect(parsed).toEqual(zodDefaults);
});

test("the real bundled copier (built by scripts/bundle.js when missing) fits the ConfigMap", () => {
  const { loadCopierBundle, CONFIG_MAP_LIMIT_BYTES } = require("../../components/copier-job/bundle-file") as typeof import("../../components/copier-job/bundle-file");
  const text = loadCopierBundle(join(__dirname, "../.."), "");
  expect(Buffer.byteLength(text)).toBeLessThan(CONFIG_MAP_LIMIT_BYTES);
  expect(text.startsWith("#!/usr/bin/env node")).toBe(true);
  expect(() => loadCopierBundle(join(__dirname, "../.."), join(dir, "missing.cjs"))).toThrow(/IMAGES_COPIER_BUNDLE=.*missing\.cjs does not exist/);
});

test("copierBundled is read as a boolean and needs a copierImage other than the stock Node image", () => {
  const values: Record<string, string> = { stage: "copy", targetImage: "r.example/d/ee:t", targetUsername: "u", targetPassword: "p", copierBundled: "true" };
  expect(() => readStackConfig({ get: (key) => values[key] })).toThrow(
    /^images-copier: copierBundled needs copierImage set to an image built from the Dockerfile/,
  );
  values.copierImage = "registry.customer.example/tools/images-copier:0.1.0";
  expect(readStackConfig({ get: (key) => values[key] })).toMatchObject({ copierBundled: true, copierImage: values.copierImage });
  values.copierBundled = "false";
  expect(readStackConfig({ get: (key) => values[key] })).toMatchObject({ copierBundled: false });
});

test("copyUpdateImages is read as a boolean, false by default", () => {
  const values: Record<string, string> = { stage: "copy", targetImage: "r.example/d/ee:t", targetUsername: "u", targetPassword: "p" };
  expect(readStackConfig({ get: (key) => values[key] })).toMatchObject({ copyUpdateImages: false });
  values.copyUpdateImages = "true";
  expect(readStackConfig({ get: (key) => values[key] })).toMatchObject({ copyUpdateImages: true });
  values.copyUpdateImages = "yes";
  expect(() => readStackConfig({ get: (key) => values[key] })).toThrow(/copyUpdateImages/);
});

test("uploadChunkMiB is read as a whole number from 0 to 256, 0 by default", () => {
  const values: Record<string, string> = { stage: "copy", targetImage: "r.example/d/ee:t", targetUsername: "u", targetPassword: "p" };
  expect(readStackConfig({ get: (key) => values[key] })).toMatchObject({ uploadChunkMiB: 0 });
  values.uploadChunkMiB = "50";
  expect(readStackConfig({ get: (key) => values[key] })).toMatchObject({ uploadChunkMiB: 50 });
  for (const bad of ["1.5", "-1", "1000", "big"]) {
    values.uploadChunkMiB = bad;
    expect(() => readStackConfig({ get: (key) => values[key] })).toThrow(/^images-copier:uploadChunkMiB: /);
  }
});
