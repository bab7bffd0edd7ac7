// The switch stack through the engine stand-in: the project's own index.ts under the real Node language runtime,
// every dynamic resource through the real dynamic-provider host, the target registry a real docker-registry with
// the suite's Bearer token server, and the cluster the Kubernetes API test server (a simulation of the API, not a
// cluster; the Kubernetes provider is simulated by the harness, and the Deployment's status is set by the test,
// which plays its controller). Scenarios: preview refused, preview passed, up, up again (empty diff), refresh,
// destroy (everything restored), two half-applied starts, and `checkFrom: cluster` with the copier published into
// the target registry (the test plays the node: it pulls the check Job's image with the pod's imagePullSecrets
// through skopeo and runs the copier unpacked from it).
import { join } from "node:path";
import { ensureBundle } from "../helpers/bundle";
import { publishCopierImage, pushSmallBase } from "../helpers/copier-image";
import { removeDir, tempDir } from "../helpers/copy-fixture";
import { startCopyKubelet } from "../helpers/copy-kubelet";
import { pushImage } from "../helpers/images";
import { startDeploymentController, type DeploymentController } from "../helpers/deployment-controller";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { findPlaintextSecrets, isSecret, opOf, plainOutputs, PulumiEngine, type RunResult } from "../helpers/pulumi-engine";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { skopeoManifestDigest } from "../helpers/skopeo";
import { b64, LICENSE_KEY, PROXY_PASSWORD, seedDeckhouseCluster, vendorSecretData, type DeckhouseClusterSpec } from "../helpers/switch-fixture";

const ROOT = join(__dirname, "..", "..");
const OLD = "registry.deckhouse.io/deckhouse/ee";
const SOURCE_IMAGE = `${OLD}:v1.46.3`;
const REPO = "client/deckhouse";
const TAG = `${"e".repeat(56)}-1650502544870`;
const PASSWORD = 'switch-Pa55"word:xyz';
const COPY_STACK = "org/images-copier/copy";
const READY = { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };

let kube: KubeApiServer;
let registry: TestRegistry;
let copied: string;
let moduleDigest: string;

beforeAll(async () => {
  [kube, registry] = await Promise.all([startKubeApiServer(), startRegistry({ tls: true, auth: "token", username: "client", password: PASSWORD })]);
  const layers = [{ size: 2048, seed: "switch-stack" }];
  copied = (await pushImage(registry, REPO, { format: "docker", seed: "deckhouse-v1.46.3", layers }, "rock-solid-1.46")).digest;
  await pushImage(registry, REPO, { format: "oci", seed: "kube-rbac-proxy", layers }, TAG);
  moduleDigest = (await pushImage(registry, REPO, { format: "oci", seed: "init", layers })).digest;
}, 120_000);

afterAll(async () => {
  await Promise.all([kube?.stop(), registry?.stop()]);
});

const target = () => `${registry.host}/${REPO}`;
const targetImage = () => `${target()}:rock-solid-1.46`;

function record(overrides: Record<string, unknown> = {}) {
  return { status: "succeeded", verified: true, targetImage: targetImage(), runId: "1", sourceImage: SOURCE_IMAGE, sourceDigest: copied, sourceRepository: OLD, imagesDigest: `sha256:${"b".repeat(64)}`, updateImages: false, ...overrides };
}

function vendorCluster(overrides: Partial<DeckhouseClusterSpec> = {}): DeckhouseClusterSpec {
  return {
    source: OLD,
    initContainers: [{ name: "init-downloaded-modules", image: `${OLD}@${moduleDigest}` }],
    containers: [{ name: "deckhouse", image: SOURCE_IMAGE }, { name: "kube-rbac-proxy", image: `${OLD}:${TAG}` }],
    podImageID: `docker-pullable://${OLD}@${copied}`,
    releaseChannel: "Stable",
    deploymentStatus: READY,
    ...overrides,
  };
}

function engine(copy: Record<string, unknown> = record()): PulumiEngine {
  return new PulumiEngine({
    programDir: ROOT,
    stack: "customer-a-switch",
    kube,
    stackReferences: { [COPY_STACK]: { outputs: { copy } } },
    config: {
      stage: "switch",
      copyStack: COPY_STACK,
      targetImage: targetImage(),
      targetUsername: "client",
      targetPassword: { secret: PASSWORD },
      targetCA: registry.caPem as string,
      "kubernetes:kubeconfig": { secret: kube.kubeconfigYaml },
    },
  });
}

// The Deployment controller and kubelet, played over time (deployment-controller.ts): new generations roll out.
const controllers: DeploymentController[] = [];
afterEach(async () => {
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
});
async function playController(pullFails?: (image: string, attempt: number) => boolean): Promise<DeploymentController> {
  const controller = await startDeploymentController(kube, {
    namespace: "d8-system",
    name: "deckhouse",
    readyAfterMs: 300,
    ...(pullFails ? { pullFails } : {}),
    // what the node resolves the release's image to, in either registry
    imageID: (image) => (image === targetImage() ? `docker-pullable://${target()}@${copied}` : image === SOURCE_IMAGE ? `docker-pullable://${OLD}@${copied}` : ""),
  });
  controllers.push(controller);
  return controller;
}

const ops = (r: RunResult) => Object.fromEntries(r.steps.map((s) => [s.urn.split("::").pop(), s.op]));
const cluster = () => ({
  secret: (kube.get("v1", "Secret", "d8-system", "deckhouse-registry") as any).data,
  pod: (kube.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any).spec.template.spec,
  annotations: (kube.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any).metadata.annotations ?? {},
  channel: (kube.get("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse") as any)?.spec.settings.releaseChannel,
});
const images = (pod: { containers: Array<{ name: string; image: string }>; initContainers?: Array<{ name: string; image: string }> }) =>
  [...(pod.initContainers ?? []), ...pod.containers].map((c) => `${c.name}=${c.image}`);
const sensitive = () => [PASSWORD, LICENSE_KEY, PROXY_PASSWORD, kube.token];
const SWITCH = ["switch-updates", "switch-rollback", "switch-deckhouse-registry", "switch-deckhouse", "switch-rollout"];

test("preview refused: an older copy stack's record, one line, nothing changes", async () => {
  seedDeckhouseCluster(kube, vendorCluster());
  const before = cluster();
  const { sourceImage: _a, sourceDigest: _b, sourceRepository: _c, imagesDigest: _d, ...older } = record();
  const preview = await engine(older).preview();
  expect(preview.error).toMatch(/^images-copier: refusing to switch: copy stack "org\/images-copier\/copy" comes from an older copy stack: its "copy" output lacks sourceImage, sourceDigest, sourceRepository, imagesDigest, .*change runId/);
  expect(preview.errorDetail).toBe(preview.error); // the whole report is that one line: no stack trace
  // the stack itself (a logical resource) and the copy stack's read, nothing of the switch
  expect(preview.steps.filter((s) => s.op !== "read").map((s) => s.type)).toEqual(["pulumi:pulumi:Stack"]);
  expect(cluster()).toEqual(before);
});

test("preview, up, up again, refresh and destroy: the switch made, an empty diff, everything restored", async () => {
  seedDeckhouseCluster(kube, vendorCluster());
  const original = cluster();
  const stack = engine();

  const preview = await stack.preview();
  expect(preview.error).toBeUndefined();
  for (const name of SWITCH) expect([name, ops(preview)[name]]).toEqual([name, "create"]);
  expect(cluster()).toEqual(original);
  const plan = (plainOutputs(preview) as { plan: Record<string, unknown> }).plan;
  expect(plan.release).toBe(`Deckhouse v1.46.3 (${copied}), image ${SOURCE_IMAGE}, copied by run 1 of copy stack ${COPY_STACK}; the Deckhouse running now is that release`);
  expect(plan.releaseChannel).toMatch(/^removes releaseChannel Stable from ModuleConfig deckhouse/);
  expect(findPlaintextSecrets(preview, sensitive())).toEqual([]);

  // the first pod of the new ReplicaSet cannot pull (ImagePullBackOff); the switch restarts it and the next one runs
  const controller = await playController((image, attempt) => image === targetImage() && attempt === 1);
  kube.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "kube-proxy-old", namespace: "kube-system" }, spec: { containers: [{ name: "kube-proxy", image: `${OLD}/kube-proxy:v1` }] } });
  const up = await stack.up();
  expect(up.error).toBeUndefined();
  const switched = cluster();
  expect(images(switched.pod)).toEqual([`init-downloaded-modules=${target()}@${moduleDigest}`, `deckhouse=${targetImage()}`, `kube-rbac-proxy=${target()}:${TAG}`]);
  expect(Buffer.from(switched.secret.address, "base64").toString()).toBe(registry.host);
  expect(JSON.parse(Buffer.from(switched.secret[".dockerconfigjson"], "base64").toString()).auths[registry.host].password).toBe(PASSWORD);
  expect(switched.channel).toBeUndefined();
  // the rollout really happened before the switch said ready: one new generation, its stuck pod restarted, the
  // replacement running the target image, the vendor's pod gone
  expect({ rollouts: controller.rollouts, restarts: controller.restartsSeen, pods: controller.podsCreated }).toEqual({ rollouts: 1, restarts: 1, pods: 2 });
  const running = kube.list("v1", "Pod", "d8-system").filter((p) => p.metadata.labels?.app === "deckhouse");
  expect(running.map((p) => [(p.status as any).phase, (p.spec as any).containers.find((c: any) => c.name === "deckhouse").image])).toEqual([["Running", targetImage()]]);
  expect(plainOutputs(up)).toMatchObject({ rolloutReady: true, oldRegistry: OLD, oldRegistryPods: [{ namespace: "kube-system", name: "kube-proxy-old" }] });
  kube.remove("v1", "Pod", "kube-system", "kube-proxy-old");
  expect(findPlaintextSecrets(up, sensitive())).toEqual([]);

  const again = await stack.up();
  expect(again.error).toBeUndefined();
  expect(Object.values(ops(again)).filter((op) => op !== "same" && op !== "read")).toEqual([]);
  expect(cluster()).toEqual(switched);
  expect(plainOutputs(again).plan).toEqual(plainOutputs(up).plan);

  const refresh = await stack.refresh();
  expect(refresh.error).toBeUndefined();
  expect(cluster()).toEqual(switched);
  const rollback = refresh.state.resources.find((r) => r.urn.endsWith("::switch-rollback"));
  expect(rollback?.outputs.capturedAt).toBe(up.state.resources.find((r) => r.urn.endsWith("::switch-rollback"))?.outputs.capturedAt);

  expect(findPlaintextSecrets(refresh, sensitive())).toEqual([]);

  // The kubeconfig's token is rotated (the old one revoked) and the stack config updated: a plain destroy
  // configures the providers from the state (the last up's kubeconfig), as Pulumi does, and stops in one line
  // before changing anything; `destroy --run-program` configures them from the current config and rolls back.
  const oldToken = kube.token;
  stack.setConfig({ "kubernetes:kubeconfig": { secret: kube.rotateToken() } });
  const refused = await stack.destroy();
  expect(refused.error).toMatch(/^images-copier: (rollback not started|release channel not restored): the cluster refused the credentials of the last `pulumi up` \(401 Unauthorized\), which `pulumi destroy` uses; .*run `pulumi destroy --run-program`/);
  expect(refused.errorDetail).toBe(refused.error);
  expect(cluster()).toEqual(switched);
  // what failed stays in the state (the rollback capture, the channel); the retained patches went (nothing to undo)
  expect(refused.state.resources.map((r) => r.urn)).toEqual(expect.arrayContaining(["switch-updates", "switch-rollback"].map((n) => expect.stringContaining(`::${n}`))));

  const destroy = await stack.destroy({ runProgram: true });
  expect(destroy.error).toBeUndefined();
  const restored = cluster();
  expect(restored.secret).toEqual(original.secret);
  expect(images(restored.pod)).toEqual(images(original.pod));
  expect(restored.channel).toBe("Stable");
  expect(restored.annotations).toEqual({});
  expect(destroy.state.resources).toEqual([]);
  expect(findPlaintextSecrets([refused, destroy], [...sensitive(), oldToken])).toEqual([]);
});

test("a half-applied start: an up that failed at the rollout is completed by the next up, and destroy restores what was there first", async () => {
  seedDeckhouseCluster(kube, vendorCluster({ deploymentStatus: { observedGeneration: 1, conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "ReplicaSet has timed out progressing." }] } }));
  const original = cluster();
  const stack = engine();
  const failed = await stack.up();
  expect(failed.error).toMatch(/progress deadline: ReplicaSet has timed out progressing/);
  expect(images(cluster().pod)).toContain(`deckhouse=${targetImage()}`);

  // The Deployment controller now does its work: the new pods come up.
  await playController();
  const completed = await stack.up();
  expect(completed.error).toBeUndefined();
  expect(ops(completed)["switch-rollout"]).toBe("create");
  for (const name of SWITCH.slice(0, 4)) expect([name, ops(completed)[name]]).toEqual([name, "same"]);

  const destroy = await stack.destroy();
  expect(destroy.error).toBeUndefined();
  expect(cluster().secret).toEqual(original.secret);
  expect(images(cluster().pod)).toEqual(images(original.pod));
});

test("a half-applied start: Secret already new, Deployment partly re-pointed; up completes it from the copy record", async () => {
  const partly = vendorCluster();
  partly.containers[1].image = `${target()}:${TAG}`;
  const auths = { auths: { [registry.host]: { username: "client", password: PASSWORD, auth: b64(`client:${PASSWORD}`) } } };
  seedDeckhouseCluster(kube, { ...partly, secretData: { ...vendorSecretData(OLD), ".dockerconfigjson": b64(JSON.stringify(auths)), address: b64(registry.host), path: b64(`/${REPO}`) } });
  await playController();
  const stack = engine();
  const up = await stack.up();
  expect(up.error).toBeUndefined();
  expect(images(cluster().pod)).toEqual([`init-downloaded-modules=${target()}@${moduleDigest}`, `deckhouse=${targetImage()}`, `kube-rbac-proxy=${target()}:${TAG}`]);
  expect(plainOutputs(up).oldRegistry).toBe(OLD);
  expect((plainOutputs(up).rollback as string[])[0]).toMatch(/^nothing of the registry: the deckhouse-registry Secret already pointed at the new registry/);
});

test("checkFrom: cluster with the copier published into the target registry: the check Job runs the pinned image, pulled with the check's pull Secret, and passes", async () => {
  const work = tempDir("switch-stack-cluster-check");
  const kubelet = startCopyKubelet(kube, { work, releaseImages: () => ({}), pullImages: { certDir: registry.caDir } });
  try {
    await pushSmallBase(registry, "mirror/node", "20-bookworm-slim", work);
    const pinned = await publishCopierImage(registry, { target: "tools/images-copier:0.1.0", base: "mirror/node:20-bookworm-slim", bundle: await ensureBundle() });
    expect(pinned).toBe(registry.ref(`tools/images-copier@${await skopeoManifestDigest(registry, "tools/images-copier:0.1.0")}`));
    seedDeckhouseCluster(kube, vendorCluster());
    await playController();
    const original = cluster();
    const stack = engine();
    stack.setConfig({ checkFrom: "cluster", copierImage: registry.ref("tools/images-copier:0.1.0") });
    const registered = (r: RunResult, name: string) => r.messages.find((m) => m.rpc === "RegisterResource" && m.name === name)?.payload as any;
    const checkObjects = () => [...kube.list("batch/v1", "Job", "d8-system"), ...kube.list("v1", "Secret", "d8-system"), ...kube.list("v1", "ConfigMap", "d8-system")].map((o) => o.metadata.name).filter((n) => n.startsWith("images-copier"));
    // the target password as itself, base64, and as the `auth` of a dockerconfigjson
    const needles = [...sensitive(), b64(PASSWORD), `client:${PASSWORD}`, b64(`client:${PASSWORD}`)];

    const preview = await stack.preview();
    expect(preview.error).toBeUndefined();
    for (const name of ["switch-check-config", "switch-check-registry", "switch-check", ...SWITCH]) expect([name, opOf(preview, name)]).toEqual([name, "create"]);
    expect(opOf(preview, "switch-check-bundle")).toBeUndefined();
    const pod = registered(preview, "switch-check").job.spec.template.spec;
    expect(pod.containers[0].image).toBe(pinned);
    expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }, { name: "images-copier-check-registry" }]);
    expect(isSecret(registered(preview, "switch-check-registry").data)).toBe(true);
    expect(preview.diagnostics.map((d) => d.message).find((m) => m.startsWith("images-copier: the check Job runs "))).toContain(`${pinned} (${registry.ref("tools/images-copier:0.1.0")} pinned by digest) with the image's own copier`);
    expect(cluster()).toEqual(original);
    expect(checkObjects()).toEqual([]);
    expect(findPlaintextSecrets(preview, needles)).toEqual([]);

    const up = await stack.up();
    expect({ error: up.error, pullErrors: kubelet.pullErrors }).toEqual({ error: undefined, pullErrors: [] });
    // the node pulled the pinned image with the check's pull Secret (deckhouse-registry holds the vendor's credentials only)
    expect(kubelet.pulls).toEqual([{ image: pinned, credentialHosts: ["registry.deckhouse.io", registry.host] }]);
    expect(up.diagnostics.map((d) => d.message)).toContain("images-copier: the target registry passed the check from the cluster (3 image(s) present, Bearer token auth)");
    expect(images(cluster().pod)).toContain(`deckhouse=${targetImage()}`);
    // the check removed its Job, its Secret and its pull Secret
    expect(checkObjects()).toEqual([]);
    expect(plainOutputs(up).copierImage).toMatchObject({ image: pinned, copier: "image-label", pullSecret: "images-copier-check-registry" });
    expect(findPlaintextSecrets(up, needles)).toEqual([]);

    const again = await stack.up();
    expect(again.error).toBeUndefined();
    expect(Object.values(ops(again)).filter((op) => op !== "same" && op !== "read")).toEqual([]);
    expect(kubelet.started).toBe(1);

    const destroy = await stack.destroy();
    expect(destroy.error).toBeUndefined();
    expect(images(cluster().pod)).toEqual(images(original.pod));
    expect(checkObjects()).toEqual([]);
    expect(findPlaintextSecrets(destroy, needles)).toEqual([]);
  } finally {
    kubelet.stop();
    removeDir(work);
  }
});
