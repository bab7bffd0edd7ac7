// The project's own program (index.ts), copy stage, previewed under the real Node language runtime, type-checked
// by the ts-node @pulumi/pulumi vendors (the suite's one type-checked run; every other harness run is
// transpile-only). Cluster reads come from the Kubernetes API test server (a simulation of the API, not a cluster).
import { join } from "node:path";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { findPlaintextSecrets, opOf, plainOutputs, PulumiEngine } from "../helpers/pulumi-engine";

const ROOT = join(__dirname, "..", "..");
const TARGET_PASSWORD = 'target-Pa55"word:xyz';
const LICENSE_KEY = "license-key-00aa11bb22cc33";
const TARGET_IMAGE = "registry.customer.example/deckhouse/ee:rock-solid-1.46";
const DECKHOUSE_IMAGE = "registry.deckhouse.io/deckhouse/ee:v1.46.3";

let kube: KubeApiServer;
beforeAll(async () => {
  kube = await startKubeApiServer();
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  kube.put({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "deckhouse-registry", namespace: "d8-system" },
    type: "kubernetes.io/dockerconfigjson",
    data: {
      ".dockerconfigjson": b64(JSON.stringify({ auths: { "registry.deckhouse.io": { auth: b64(`license-token:${LICENSE_KEY}`) } } })),
      address: b64("registry.deckhouse.io"),
      path: b64("/deckhouse/ee"),
      scheme: b64("https"),
    },
  });
  kube.put(deckhouseDeployment({ containers: [{ name: "deckhouse", image: DECKHOUSE_IMAGE }] }) as never);
});
afterAll(() => kube?.stop());

test("copy stack preview (type-checked): reads the cluster, changes nothing, shows the plan, keeps every credential secret", async () => {
  const engine = new PulumiEngine({
    programDir: ROOT,
    stack: "customer-a-copy",
    kube,
    typeCheck: true,
    config: {
      stage: "copy",
      targetImage: TARGET_IMAGE,
      targetUsername: "robot",
      targetPassword: { secret: TARGET_PASSWORD },
      "kubernetes:kubeconfig": { secret: kube.kubeconfigYaml },
    },
  });
  const objectsBefore = ["Secret", "ConfigMap", "Pod"].map((kind) => kube.list("v1", kind, "d8-system"));

  const preview = await engine.preview();
  expect(preview.error).toBeUndefined();
  expect(opOf(preview, "deckhouse-registry")).toBe("read");
  expect(opOf(preview, "deckhouse")).toBe("read");
  expect(opOf(preview, "copy-images")).toBe("create");
  expect(["Secret", "ConfigMap", "Pod"].map((kind) => kube.list("v1", kind, "d8-system"))).toEqual(objectsBefore);
  expect(kube.list("batch/v1", "Job", "d8-system")).toEqual([]);
  expect(preview.state.resources).toEqual([]);

  const outputs = plainOutputs(preview) as { sourceImage: string; plan: { initImage: string; copierImage: string; targetImage: string; secretKeys: string[] } };
  expect(outputs.sourceImage).toBe(DECKHOUSE_IMAGE);
  expect(outputs.plan).toMatchObject({ initImage: DECKHOUSE_IMAGE, copierImage: "node:20-bookworm-slim", targetImage: TARGET_IMAGE });
  expect(outputs.plan.secretKeys).toEqual(expect.arrayContaining(["dest-repo.json", "d8-repo.json"]));
  expect(findPlaintextSecrets(preview, [TARGET_PASSWORD, LICENSE_KEY, kube.token])).toEqual([]);
});
