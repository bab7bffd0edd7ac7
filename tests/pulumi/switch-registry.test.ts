// The existence check against a real registry (TLS + bearer-token auth, as Deckhouse requires): the copier's
// client answers, one missing image blocks the switch before any patch and is named.
import * as pulumi from "@pulumi/pulumi";
import { requireImagesExist } from "../../components/switch/preflight";
import { pushImage } from "../helpers/images";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import type { SwitchStageConfig } from "../../stack-config";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const REPO = "client/deckhouse";
let reg: TestRegistry;
let digest: string;
const TAG = `${"e".repeat(56)}-1650502544870`;
const MISSING_TAG = `${"f".repeat(56)}-1650502544871`;

beforeAll(async () => {
  reg = await startRegistry({ tls: true, auth: "token", username: "client", password: 'p"a:ss' });
  const layers = [{ size: 4096, seed: "switch-existence" }];
  await pushImage(reg, REPO, { format: "docker", seed: "deckhouse", layers }, "rock-solid-1.46");
  await pushImage(reg, REPO, { format: "oci", seed: "rbac", layers }, TAG);
  digest = (await pushImage(reg, REPO, { format: "oci", seed: "init", layers })).digest;
}, 60_000);

afterAll(async () => {
  await reg?.stop();
});

const access = () => ({ username: "client", password: 'p"a:ss', insecure: false, ca: reg.caPem });

describe("existence check against a real registry", () => {
  it("passes when every reference exists, by tag and by digest", async () => {
    await expect(requireImagesExist([`${reg.host}/${REPO}:rock-solid-1.46`, `${reg.host}/${REPO}:${TAG}`, `${reg.host}/${REPO}@${digest}`], access())).resolves.toBeUndefined();
  });

  it("names the one missing image", async () => {
    const missing = `${reg.host}/${REPO}:${MISSING_TAG}`;
    await expect(requireImagesExist([`${reg.host}/${REPO}:rock-solid-1.46`, missing], access())).rejects.toThrow(
      `refusing to switch: 1 of 2 image(s) are not in the target registry: ${missing}`,
    );
  });

  it("reports a wrong password as the reason, never the password", async () => {
    const err = await requireImagesExist([`${reg.host}/${REPO}:rock-solid-1.46`], { ...access(), password: "wrong-secret-value" }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/not in the target registry/);
    expect((err as Error).message).not.toContain("wrong-secret-value");
  });
});

describe("the switch stage with the copier's real checker", () => {
  const registered: Array<{ type: string; inputs: any }> = [];
  let containers: Array<{ name: string; image: string }>;

  function setMocks(): void {
    pulumi.runtime.setMocks(
      {
        newResource(args) {
          registered.push({ type: args.type, inputs: args.inputs });
          const target = `${reg.host}/${REPO}:rock-solid-1.46`;
          if (args.type === "pulumi:pulumi:StackReference") {
            return { id: "copy", state: { outputs: { copy: { status: "succeeded", targetImage: target, verified: true } } } };
          }
          if (args.type === "kubernetes:apps/v1:Deployment") return { id: args.id ?? "d", state: { spec: { template: { spec: { containers } } } } };
          if (args.type === "kubernetes:core/v1:Secret") return { id: args.id ?? "s", state: { data: { address: Buffer.from("registry.deckhouse.io").toString("base64") } } };
          return { id: `${args.name}-id`, state: { ...args.inputs, ready: true, oldRegistryPods: [], capturedAt: "t" } };
        },
        call: (args) => args.inputs,
      },
      "images-copier",
      "switch",
      true,
    );
  }

  async function preview(name: string): Promise<Error | undefined> {
    setMocks();
    const { SwitchStage } = await import("../../components/switch/stage");
    const config: SwitchStageConfig = {
      stage: "switch",
      targetImage: `${reg.host}/${REPO}:rock-solid-1.46`,
      targetUsername: "client",
      targetPassword: 'p"a:ss',
      targetCA: reg.caPem,
      targetInsecure: false,
      copyStack: "copy",
    };
    const stage = new SwitchStage(name, config, undefined, { kube: {} });
    const refusal = stage.gatePassed.then(() => undefined, (err: Error) => err);
    await (pulumi.output(stage.outputs) as any).promise();
    await new Promise((resolve) => setTimeout(resolve, 20));
    return refusal;
  }

  beforeEach(() => {
    registered.length = 0;
  });

  it("declares the patches when every re-pointed image is in the target", async () => {
    containers = [
      { name: "deckhouse", image: `${OLD}:rock-solid` },
      { name: "kube-rbac-proxy", image: `${OLD}:${TAG}` },
      { name: "init-like", image: `${OLD}@${digest}` },
    ];
    expect(await preview("exists")).toBeUndefined();
    const patch = registered.find((r) => r.type === "kubernetes:apps/v1:DeploymentPatch");
    expect(patch?.inputs.spec.template.spec.containers).toEqual([
      { name: "deckhouse", image: `${reg.host}/${REPO}:rock-solid-1.46` },
      { name: "kube-rbac-proxy", image: `${reg.host}/${REPO}:${TAG}` },
      { name: "init-like", image: `${reg.host}/${REPO}@${digest}` },
    ]);
  });

  it("refuses at preview, with no patch declared, naming the missing image", async () => {
    containers = [
      { name: "deckhouse", image: `${OLD}:rock-solid` },
      { name: "kube-rbac-proxy", image: `${OLD}:${MISSING_TAG}` },
    ];
    const refused = await preview("missing");
    expect(refused?.message).toBe(`images-copier: refusing to switch: 1 of 2 image(s) are not in the target registry: ${reg.host}/${REPO}:${MISSING_TAG}`);
    expect(registered.filter((r) => r.type.endsWith("Patch") || r.type.includes("dynamic"))).toEqual([]);
  });
});
