// The whole program (index.ts) for a copy stack under SDK mocks, configured the way `pulumi config set` does,
// and Pulumi.yaml's config schema kept in step with the zod schema the program validates with.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { copyStageConfigSchema, readStackConfig } from "../../stack-config";

const dir = mkdtempSync(join(tmpdir(), "copy-program-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const declared: Array<{ type: string; inputs: any; id?: string }> = [];
// Resolves when the CopyRun's registration reaches the mock monitor (it is registered after the reads resolve).
let copyRunRegistered!: (registration: { type: string; inputs: any }) => void;
const copyRun = new Promise<{ type: string; inputs: any }>((resolve) => (copyRunRegistered = resolve));

test("index.ts validates the config once and declares the copy stage; the password stays secret", async () => {
  const bundle = join(dir, "images-copier.cjs");
  writeFileSync(bundle, "/* test bundle */\n");
  process.env.IMAGES_COPIER_BUNDLE = bundle;
  pulumi.runtime.setAllConfig(
    {
      "images-copier:stage": "copy",
      "images-copier:targetImage": "registry.customer.example/deckhouse/ee:rock-solid-1.46",
      "images-copier:targetUsername": "robot",
      "images-copier:targetPassword": "s3cr3t-value",
      "images-copier:targetCA": "",
      "images-copier:imagesFile": "",
      "images-copier:copyStack": "",
      "images-copier:runId": "7",
      "images-copier:concurrency": "3",
      "images-copier:targetInsecure": "false",
    },
    ["images-copier:targetPassword"],
  );
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        declared.push({ type: args.type, inputs: args.inputs, id: args.id });
        if (args.type === "pulumi-nodejs:dynamic:CopyRun") copyRunRegistered({ type: args.type, inputs: args.inputs });
        if (args.type === "kubernetes:core/v1:Secret") {
          return { id: args.id!, state: { data: { ".dockerconfigjson": b64(JSON.stringify({ auths: { "registry.deckhouse.io": { auth: b64("license-token:k") } } })) } } };
        }
        if (args.type === "kubernetes:apps/v1:Deployment") {
          return { id: args.id!, state: { spec: { template: { spec: { containers: [{ name: "deckhouse", image: "registry.deckhouse.io/deckhouse/ee:v1.46.3" }] } } } } };
        }
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: () => ({}),
    },
    "images-copier",
    "customer-a-copy",
  );
  const outputs = require("../../index") as Record<string, pulumi.Output<string>>;
  const sourceImage = await new Promise((resolve) => pulumi.output(outputs.sourceImage).apply(resolve));
  expect(sourceImage).toBe("registry.deckhouse.io/deckhouse/ee:v1.46.3");
  expect(await new Promise((resolve) => pulumi.output(outputs.targetImage).apply(resolve))).toBe("registry.customer.example/deckhouse/ee:rock-solid-1.46");
  const run = await copyRun;
  expect(run.inputs.runId).toBe("7");
  // what the engine receives: the manifests wrapped as a secret (the SDK's secret signature), never plain
  const wrapped = run.inputs.manifests;
  expect(wrapped[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
  const manifests = wrapped.value;
  expect(manifests.job.spec.template.spec.containers[0].command).toEqual(expect.arrayContaining(["--concurrency", "3"]));
  expect(JSON.parse(Buffer.from(manifests.secret.data["dest-repo.json"], "base64").toString())).toMatchObject({ password: "s3cr3t-value", image: "registry.customer.example/deckhouse/ee:rock-solid-1.46" });
  expect(manifests.configMap.data["images-copier.cjs"]).toBe("/* test bundle */\n");
  expect(run.inputs.__provider).not.toContain("s3cr3t-value");
  delete process.env.IMAGES_COPIER_BUNDLE;
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
  const { loadCopierBundle, CONFIG_MAP_LIMIT_BYTES } = require("../../components/copy/copier-bundle") as typeof import("../../components/copy/copier-bundle");
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
