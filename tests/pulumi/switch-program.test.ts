// The whole program (index.ts) for a switch stack under SDK mocks, configured the way `pulumi config set` does,
// reading the cluster through `kubernetes:kubeconfig` from the Kubernetes API test server: the exported promise
// rejects with one RunError on a refusal, before any resource of the switch is registered, and otherwise
// resolves to the stage's outputs with every resource declared.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { seedDeckhouseCluster } from "../helpers/switch-fixture";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const TARGET = "registry.customer.example/deckhouse/ee:rock-solid-1.46";
const COPIED = `sha256:${"a".repeat(64)}`;
const dir = mkdtempSync(join(tmpdir(), "switch-program-"));
let kube: KubeApiServer;

beforeAll(async () => {
  kube = await startKubeApiServer();
  seedDeckhouseCluster(kube, { source: OLD, containers: [{ name: "deckhouse", image: `${OLD}:v1.46.3` }], podImageID: `${OLD}@${COPIED}`, releaseChannel: "Stable" });
  const bundle = join(dir, "images-copier.cjs");
  writeFileSync(bundle, "/* test bundle */\n");
  process.env.IMAGES_COPIER_BUNDLE = bundle;
});

afterAll(async () => {
  delete process.env.IMAGES_COPIER_BUNDLE;
  await kube?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function runProgram(copy: Record<string, unknown>): Promise<{ declared: string[]; result: Record<string, unknown> | Error }> {
  pulumi.runtime.setAllConfig(
    {
      "images-copier:stage": "switch",
      "images-copier:targetImage": TARGET,
      "images-copier:targetUsername": "robot",
      "images-copier:targetPassword": "s3cr3t-value",
      "images-copier:copyStack": "org/images-copier/customer-a-copy",
      "images-copier:checkFrom": "cluster",
      "images-copier:updates": "",
      "kubernetes:kubeconfig": kube.kubeconfigYaml,
    },
    ["images-copier:targetPassword", "kubernetes:kubeconfig"],
  );
  const declared: string[] = [];
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        declared.push(args.type);
        if (args.type === "pulumi:pulumi:StackReference") return { id: args.inputs.name, state: { outputs: { copy }, secretOutputNames: [] } };
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: () => ({}),
    },
    "images-copier",
    "customer-a-switch",
  );
  // index.ts runs once per load, as once per `pulumi up`: a fresh module registry runs it again. Its outputs
  // are read with the SDK instance it loaded.
  jest.resetModules();
  const program = require("../../index") as Promise<Record<string, unknown>>;
  const sdk = require("@pulumi/pulumi") as typeof pulumi;
  const result = await program.then(
    (outputs) => new Promise<Record<string, unknown>>((resolve) => sdk.output(outputs).apply((o) => resolve(o as Record<string, unknown>))),
    (err: Error) => err,
  );
  return { declared, result };
}

const record = { status: "succeeded", verified: true, targetImage: TARGET, sourceImage: `${OLD}:v1.46.3`, sourceDigest: COPIED, sourceRepository: OLD, imagesDigest: `sha256:${"b".repeat(64)}` };

test("a refusal rejects the program with one RunError before anything of the switch is declared", async () => {
  const { declared, result } = await runProgram({ status: "succeeded", verified: true, targetImage: TARGET });
  expect(pulumi.RunError.isInstance(result)).toBe(true);
  expect((result as Error).message).toMatch(/^images-copier: refusing to switch: copy stack "org\/images-copier\/customer-a-copy" comes from an older copy stack[^\n]*$/);
  expect(declared).toEqual(["pulumi:pulumi:StackReference"]);
});

test("a passed gate declares the whole switch, reading the cluster with the stack's kubernetes:kubeconfig", async () => {
  const { declared, result } = await runProgram(record);
  expect(result).not.toBeInstanceOf(Error);
  expect((result as { plan: { checks: string } }).plan.checks).toMatch(/^will run in the cluster, as Job d8-system\/images-copier-check/);
  expect(declared.filter((t) => t !== "pulumi:pulumi:StackReference").sort()).toEqual([
    "images-copier:index:SwitchStage",
    "kubernetes:apps/v1:DeploymentPatch",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:SecretPatch",
    "pulumi-nodejs:dynamic/images-copier:BashibleApplied",
    "pulumi-nodejs:dynamic/images-copier:ClusterCheck",
    "pulumi-nodejs:dynamic/images-copier:DeckhouseRollout",
    "pulumi-nodejs:dynamic/images-copier:DeckhouseUpdates",
    "pulumi-nodejs:dynamic/images-copier:SwitchSnapshot",
    "pulumi-nodejs:dynamic:CopierBundle",
    // the patches' provider: the stack's kubeconfig, its user impersonating kubeImpersonate (default system:sudouser)
    "pulumi:providers:kubernetes",
  ]);
  expect(kube.requests.some((r) => r.path === "/apis/apps/v1/namespaces/d8-system/deployments/deckhouse")).toBe(true);
});
