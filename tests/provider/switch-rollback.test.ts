// Rollback: the snapshot provider (serialized as Pulumi stores it) restores the captured images and Secret values
// against the Kubernetes API test server; the Secret keeps `.dockerconfigjson` and every container an image.
import * as pulumi from "@pulumi/pulumi";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";
import { addStackOperator } from "../helpers/kube-api/stack-operator";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { startDeploymentController, type DeploymentController } from "../helpers/deployment-controller";
import { configureProvider, serializeAndRevive } from "../helpers/serialized-provider";
import { snapshotProvider, type SnapshotInputs } from "../../components/switch/snapshot-provider";
import { captureImages, captureSecret } from "../../components/switch/rollback";
import { dockerConfigJson, encodeBase64 } from "../../components/kube";
import { registrySecretValues } from "../../components/switch/registry-secret";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const NEW = "registry.example.com/client/deckhouse";
const TARGET = `${NEW}:rock-solid-1.46`;
const DIGEST = `sha256:${"9".repeat(64)}`;
const b64 = encodeBase64;

let server: KubeApiServer;
let provider: pulumi.dynamic.ResourceProvider;

beforeAll(async () => {
  server = await startKubeApiServer();
  provider = (await serializeAndRevive<pulumi.dynamic.ResourceProvider>(snapshotProvider)).provider;
  // exactly the switch stack's RBAC rules (docs/permissions/switch-stack.yaml)
  await configureProvider(provider, { "kubernetes:kubeconfig": server.kubeconfigFor(addStackOperator(server, "switch-stack")) });
});

// The Deployment controller, played over time: a restored image rolls out (new Pods ready after 50 ms).
let controller: DeploymentController | undefined;
const playController = async (readyAfterMs: number) => {
  await controller?.stop();
  controller = await startDeploymentController(server, { namespace: "d8-system", name: "deckhouse", readyAfterMs });
};
beforeEach(() => playController(50));
afterEach(async () => {
  await controller?.stop();
  controller = undefined;
});

afterAll(async () => {
  await server?.stop();
});

const oldImages = {
  initContainers: [{ name: "init", image: `${OLD}@${DIGEST}` }],
  containers: [
    { name: "deckhouse", image: `${OLD}:rock-solid` },
    { name: "kube-rbac-proxy", image: `${OLD}:abc` },
  ],
};
const oldData = {
  ".dockerconfigjson": b64(JSON.stringify({ auths: { "registry.deckhouse.io": { auth: b64("license-token:KEY") } } })),
  address: b64("registry.deckhouse.io"),
  path: b64("/deckhouse/ee"),
  scheme: b64("https"),
  clusterIsBootstrapped: b64("true"),
};

function deploymentObject(images: typeof oldImages, annotations: Record<string, string> = {}): KubeObject {
  return deckhouseDeployment({
    generation: 5,
    annotations,
    initContainers: images.initContainers.map((c) => ({ ...c, command: ["/init"] })),
    containers: images.containers.map((c) => ({ ...c, env: [{ name: "KEEP", value: c.name }] })),
    status: { observedGeneration: 5, replicas: 1, updatedReplicas: 1, availableReplicas: 1 },
  });
}

/** The cluster as the switch's Patch resources leave it (new images, new keys, their annotations). */
function switchedCluster(): { inputs: SnapshotInputs } {
  const target = { image: TARGET, username: "client", password: 'p"a:ss', insecure: true, ca: "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----" };
  const values = registrySecretValues(target, Object.keys(oldData));
  const inputs: SnapshotInputs = {
    images: captureImages(oldImages),
    secret: captureSecret(oldData, Object.keys(values)),
    oldRegistry: OLD,
    secretRestorable: true,
    rolloutTimeoutSeconds: 5,
  };
  const patchAnnotations = { "pulumi.com/patchForce": "true", "pulumi.com/patchFieldManager": "images-copier-switch" };
  server.put(
    deploymentObject(
      {
        initContainers: [{ name: "init", image: `${NEW}@${DIGEST}` }],
        containers: [
          { name: "deckhouse", image: TARGET },
          { name: "kube-rbac-proxy", image: `${NEW}:abc` },
        ],
      },
      { ...patchAnnotations, "pulumi.com/skipAwait": "true", "deployment.kubernetes.io/revision": "7" },
    ),
  );
  const data: Record<string, string> = { ...oldData };
  for (const [key, value] of Object.entries(values)) data[key] = b64(value as string);
  server.put({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/dockerconfigjson", metadata: { name: "deckhouse-registry", namespace: "d8-system", annotations: patchAnnotations }, data } as KubeObject);
  return { inputs };
}

describe("SwitchSnapshot provider", () => {
  it("restores the captured images and Secret values on delete, removing only what the switch added", async () => {
    const { inputs } = switchedCluster();
    const created = await provider.create!(inputs);
    expect(created.outs.secret.data.ca).toBeNull();
    await provider.delete!(created.id, created.outs);

    const secret = server.get("v1", "Secret", "d8-system", "deckhouse-registry") as any;
    expect(secret.data).toEqual(oldData); // ca removed, .dockerconfigjson and the untouched key as before
    expect(secret.metadata.annotations).toEqual({});
    const deployment = server.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any;
    const podSpec = deployment.spec.template.spec;
    expect(podSpec.containers.map((c: any) => [c.name, c.image, c.env[0].value])).toEqual([
      ["deckhouse", `${OLD}:rock-solid`, "deckhouse"],
      ["kube-rbac-proxy", `${OLD}:abc`, "kube-rbac-proxy"],
    ]);
    expect(podSpec.initContainers).toEqual([{ name: "init", image: `${OLD}@${DIGEST}`, command: ["/init"] }]);
    expect(deployment.metadata.annotations).toEqual({ "deployment.kubernetes.io/revision": "7" });
    // restored with patches, never by deleting or replacing the objects
    const writes = server.requests.filter((r) => r.method !== "GET" && r.path.includes("/d8-system/"));
    expect(writes.map((r) => [r.method, r.contentType])).toEqual([
      ["PATCH", "application/merge-patch+json"],
      ["PATCH", "application/merge-patch+json"],
    ]);
  });

  it("a write to the Deployment between the restore's read and its patch: 409 on the stale resourceVersion, read again, restored", async () => {
    const { inputs } = switchedCluster();
    const created = await provider.create!(inputs);
    const path = "/apis/apps/v1/namespaces/d8-system/deployments/deckhouse";
    let raced = 0;
    // a concurrent writer (another controller) lands its change just before the first image patch is handled
    const stop = server.onRequest((request) => {
      if (request.method !== "PATCH" || request.path !== path || raced > 0) return;
      raced++;
      const live = server.get("apps/v1", "Deployment", "d8-system", "deckhouse")!;
      server.put({ ...live, metadata: { ...live.metadata, labels: { ...live.metadata.labels, "touched-by": "other-writer" } } });
    });
    const first = server.requests.length;
    try {
      await provider.delete!(created.id, created.outs);
    } finally {
      stop();
    }
    expect(raced).toBe(1);
    const deploymentCalls = server.requests.slice(first).filter((r) => r.path === path && !r.query.watch);
    // read, patch (refused: stale), read again, patch; before each patch the client reads the object's labels (a
    // Deckhouse object is written as kubeImpersonate, components/kube/client.ts)
    expect(deploymentCalls.slice(0, 6).map((r) => r.method)).toEqual(["GET", "GET", "PATCH", "GET", "GET", "PATCH"]);
    expect(deploymentCalls.filter((r) => r.method === "PATCH").map((r) => r.code)).toEqual([409, 200]);
    const deployment = server.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any;
    expect(deployment.metadata.labels["touched-by"]).toBe("other-writer");
    expect(deployment.spec.template.spec.containers.map((c: any) => c.image)).toEqual([`${OLD}:rock-solid`, `${OLD}:abc`]);
  });

  it("keeps the current .dockerconfigjson when none was captured, and never empties a container image", async () => {
    const { inputs } = switchedCluster();
    const odd: SnapshotInputs = {
      ...inputs,
      secret: { ...inputs.secret, data: { ...inputs.secret.data, ".dockerconfigjson": null } },
      images: { ...inputs.images, containers: [{ name: "deckhouse", image: "" }, { name: "kube-rbac-proxy", image: `${OLD}:abc` }] },
    };
    const before = server.get("v1", "Secret", "d8-system", "deckhouse-registry") as any;
    await provider.delete!("d8-system/deckhouse", { ...odd, capturedAt: "t" });
    const secret = server.get("v1", "Secret", "d8-system", "deckhouse-registry") as any;
    expect(secret.data[".dockerconfigjson"]).toBe(before.data[".dockerconfigjson"]);
    expect(Object.keys(JSON.parse(Buffer.from(secret.data[".dockerconfigjson"], "base64").toString()).auths)).toEqual(["registry.example.com"]);
    const containers = (server.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any).spec.template.spec.containers;
    expect(containers.map((c: any) => c.image)).toEqual([TARGET, `${OLD}:abc`]);
  });

  it("keeps the values of the first switch across later updates", async () => {
    const { inputs } = switchedCluster();
    const created = await provider.create!(inputs);
    // A later `pulumi up` reads the switched objects: the capture it offers now holds the new values.
    const later: SnapshotInputs = {
      ...inputs,
      secret: captureSecret({ ".dockerconfigjson": b64(dockerConfigJson("registry.example.com", "client", "x")) }, [".dockerconfigjson"]),
      secretRestorable: false,
    };
    expect((await provider.diff!(created.id, created.outs, later)).changes).toBe(false);
    const slower = { ...later, rolloutTimeoutSeconds: 60 };
    expect((await provider.diff!(created.id, created.outs, slower)).changes).toBe(true);
    const updated = await provider.update!(created.id, created.outs, slower);
    expect(updated.outs.images).toEqual(inputs.images);
    expect(updated.outs.secret).toEqual(inputs.secret);
    expect(updated.outs.secretRestorable).toBe(true);
    expect(updated.outs.rolloutTimeoutSeconds).toBe(60);
  });

  it("rolls back with the cluster access of the current stack config, whatever the state recorded", async () => {
    const { inputs } = switchedCluster();
    const dead = server.kubeconfigYaml.replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:9");
    // A snapshot recorded by an earlier version still carries the kubeconfig of its day (here: a dead one).
    const recorded = { ...inputs, kube: { kubeconfig: dead }, capturedAt: "t" };
    expect((await provider.diff!("d8-system/deckhouse", recorded, inputs)).changes).toBe(true);
    expect("kube" in (await provider.update!("d8-system/deckhouse", recorded, inputs)).outs).toBe(false);
    // Configured with a moved kubeconfig (the dead one), the destroy fails; with the current one it restores.
    const stale = (await serializeAndRevive<pulumi.dynamic.ResourceProvider>(snapshotProvider)).provider;
    await configureProvider(stale, { "kubernetes:kubeconfig": dead });
    await expect(stale.delete!("d8-system/deckhouse", recorded)).rejects.toThrow(/ECONNREFUSED/);
    await provider.delete!("d8-system/deckhouse", recorded);
    expect((server.get("v1", "Secret", "d8-system", "deckhouse-registry") as any).data).toEqual(oldData);
  });

  it("moves nothing back when the Secret already pointed at the new registry when captured", async () => {
    const { inputs } = switchedCluster();
    const before = server.get("v1", "Secret", "d8-system", "deckhouse-registry") as any;
    const writes = server.requests.length;
    await provider.delete!("d8-system/deckhouse", { ...inputs, secretRestorable: false, capturedAt: "t" });
    expect(server.requests.length).toBe(writes);
    expect((server.get("v1", "Secret", "d8-system", "deckhouse-registry") as any).data).toEqual(before.data);
  });

  it("fails the destroy at its timeout, with the reason, when the old image never becomes ready (Pulumi keeps the resource; destroy again retries)", async () => {
    const { inputs } = switchedCluster();
    await playController(Infinity); // the new ReplicaSet's Pod never gets ready
    await expect(provider.delete!("d8-system/deckhouse", { ...inputs, rolloutTimeoutSeconds: 1, capturedAt: "t" })).rejects.toThrow(
      /^Deployment d8-system\/deckhouse did not become ready: 0 of 1 updated replicas available$/,
    );
    expect(controller!.rollouts).toBe(1);
  });

  it("skips objects that are gone", async () => {
    const { inputs } = switchedCluster();
    server.remove("apps/v1", "Deployment", "d8-system", "deckhouse");
    server.remove("v1", "Secret", "d8-system", "deckhouse-registry");
    await expect(provider.delete!("d8-system/deckhouse", { ...inputs, capturedAt: "t" })).resolves.toBeUndefined();
  });
});
