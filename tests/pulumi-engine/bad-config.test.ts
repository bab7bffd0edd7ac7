// Bad stack config under the real Pulumi runtime: the program stops before it reads the cluster or declares
// anything, with the config error alone (no stack trace), naming the key and the offending value, never the password.
import { join } from "node:path";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { PulumiEngine } from "../helpers/pulumi-engine";

const ROOT = join(__dirname, "..", "..");
const PASSWORD = 'bad"config:pw';
let kube: KubeApiServer;

beforeAll(async () => {
  kube = await startKubeApiServer();
});
afterAll(() => kube?.stop());

test("a targetImage without a tag: preview fails with the config error alone and nothing is read or declared", async () => {
  const engine = new PulumiEngine({
    programDir: ROOT,
    stack: "bad-config",
    kube,
    config: {
      stage: "copy",
      targetImage: "registry.customer.example/deckhouse/ee",
      targetUsername: "robot",
      targetPassword: { secret: PASSWORD },
      "kubernetes:kubeconfig": { secret: kube.kubeconfigYaml },
    },
  });
  const requestsBefore = kube.requests.length;
  const run = await engine.preview();
  expect(run.error).toBe('images-copier: targetImage "registry.customer.example/deckhouse/ee" has no tag; a tag is mandatory, e.g. "registry.customer.example/deckhouse/ee:rock-solid-1.46"');
  expect(run.errorDetail).toBe(run.error); // one line: no stack trace, no runtime prefixes
  expect(run.errorDetail).not.toContain(PASSWORD);
  expect(run.steps.map((s) => s.type)).toEqual(["pulumi:pulumi:Stack"]);
  expect(kube.requests.length).toBe(requestsBefore);
});
