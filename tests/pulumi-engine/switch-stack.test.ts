// The switch stack through the engine stand-in: the project's own index.ts under the real Node language runtime,
// every dynamic resource through the real dynamic-provider host, the target registry a real docker-registry with
// the suite's Bearer token server, and the cluster the Kubernetes API test server (a simulation of the API, not a
// cluster; the Kubernetes provider is simulated by the harness, and the Deployment's status is set by the test,
// which plays its controller). Scenarios: preview refused, preview passed, up, up again (empty diff), refresh,
// destroy (everything restored), v1.76 rendering the original tag mid-switch, two half-applied starts, and `checkFrom: cluster` with the copier published into
// the target registry (the test plays the node: it pulls the check Job's image with the pod's imagePullSecrets
// through skopeo and runs the copier unpacked from it). Every run acts as a user with exactly the RBAC rules of
// docs/permissions/switch-stack.yaml (enforced by the test server for the program's own client and the dynamic
// providers); with one rule removed, the preview fails in one line naming it. Who wrote what is asserted from the
// server's records: the main scenario (a release before Deckhouse's admission policies) and a Deckhouse v1.66
// cluster with them, where the switch works through impersonation and a kubeconfig user that may not impersonate
// is refused at preview.
import { join } from "node:path";
import { ensureBundle } from "../helpers/bundle";
import { publishCopierImage, pushSmallBase } from "../helpers/copier-image";
import { removeDir, tempDir } from "../helpers/copy-fixture";
import { startCopyKubelet } from "../helpers/copy-kubelet";
import { pushImage } from "../helpers/images";
import { startDeploymentController, type DeploymentController } from "../helpers/deployment-controller";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { addStackOperator, OPERATOR, operatorGrants } from "../helpers/kube-api/stack-operator";
import { moduleConfig, moduleRelease } from "../helpers/deckhouse-modules";
import { findPlaintextSecrets, isSecret, opOf, plainOutputs, PulumiEngine, type RunResult } from "../helpers/pulumi-engine";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { skopeoManifestDigest } from "../helpers/skopeo";
import { b64, LICENSE_KEY, PROXY_PASSWORD, seedDeckhouseCluster, vendorSecretData, type DeckhouseClusterSpec } from "../helpers/switch-fixture";
import { bashibleApplied, clearNodeGroups, seedNodeGroups, setChecksums } from "../helpers/node-groups";
import { clearOldRegistryWorkloads, ISTIO_IMAGE, restartedAt, seedOldRegistryWorkloads } from "../helpers/old-registry-workloads";

const ROOT = join(__dirname, "..", "..");
const OLD = "registry.deckhouse.io/deckhouse/ee";
const SOURCE_IMAGE = `${OLD}:v1.46.3`;
const REPO = "client/deckhouse";
const TAG = `${"e".repeat(56)}-1650502544870`;
const PASSWORD = 'switch-Pa55"word:xyz';
const COPY_STACK = "org/images-copier/copy";
const READY = { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };
let operatorToken: string;
/** The operator on the v1.66 cluster, with exactly the same rules. */
let operator66Token: string;

let kube: KubeApiServer;
/** A Deckhouse v1.66 cluster: its admission policies on `heritage: deckhouse` objects enforced. */
let kube66: KubeApiServer;
let registry: TestRegistry;
let copied: string;
let moduleDigest: string;

beforeAll(async () => {
  [kube, kube66, registry] = await Promise.all([startKubeApiServer(), startKubeApiServer({ deckhouse: { version: "v1.66" } }), startRegistry({ tls: true, auth: "token", username: "client", password: PASSWORD })]);
  const layers = [{ size: 2048, seed: "switch-stack" }];
  copied = (await pushImage(registry, REPO, { format: "docker", seed: "deckhouse-v1.46.3", layers }, "rock-solid-1.46")).digest;
  await pushImage(registry, REPO, { format: "oci", seed: "kube-rbac-proxy", layers }, TAG);
  moduleDigest = (await pushImage(registry, REPO, { format: "oci", seed: "init", layers })).digest;
  operatorToken = addStackOperator(kube, "switch-stack");
  operator66Token = addStackOperator(kube66, "switch-stack");
}, 120_000);

afterAll(async () => {
  await Promise.all([kube?.stop(), kube66?.stop(), registry?.stop()]);
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

/** The switch stack on `server`, acting as `kubeconfig`'s user: by default the operator with exactly the stack's rules. */
function engine(copy: Record<string, unknown> = record(), server = kube, kubeconfig = kube.kubeconfigFor(operatorToken)): PulumiEngine {
  return new PulumiEngine({
    programDir: ROOT,
    stack: "customer-a-switch",
    kube: server,
    stackReferences: { [COPY_STACK]: { outputs: { copy } } },
    config: {
      stage: "switch",
      copyStack: COPY_STACK,
      targetImage: targetImage(),
      targetUsername: "client",
      targetPassword: { secret: PASSWORD },
      targetCA: registry.caPem as string,
      "kubernetes:kubeconfig": { secret: kubeconfig },
    },
  });
}

// The Deployment controller and kubelet, played over time (deployment-controller.ts): new generations roll out.
const controllers: DeploymentController[] = [];
afterEach(async () => {
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
});
/** The Deployment controller the test plays: kube-controller-manager's service account, not the stack. */
const CONTROLLER_USER = "system:serviceaccount:kube-system:deployment-controller";
async function playController(pullFails?: (image: string, attempt: number) => boolean, server = kube): Promise<DeploymentController> {
  // the controller acts as kube-controller-manager's service account (Deckhouse's admission policy admits it)
  const controllerToken = server.addToken({ user: CONTROLLER_USER, groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system"] });
  const controller = await startDeploymentController(server, {
    kubeconfig: server.kubeconfigFor(controllerToken),
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
const cluster = (server = kube) => ({
  secret: (server.get("v1", "Secret", "d8-system", "deckhouse-registry") as any).data,
  pod: (server.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any).spec.template.spec,
  annotations: (server.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any).metadata.annotations ?? {},
  channel: (server.get("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse") as any)?.spec.settings.releaseChannel,
});

const SECRET_PATH = "/api/v1/namespaces/d8-system/secrets/deckhouse-registry";
const DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/d8-system/deployments/deckhouse";
const SHOP_WEB_PATH = "/apis/apps/v1/namespaces/shop/deployments/web";
const MODULE_CONFIG_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/deckhouse";
const SUDO = `system:sudouser by ${OPERATOR}`;
/** The writes a server saw since `from` (reads left out): whom as, to which object, real or dry run, with which field manager. */
function writesSince(server: KubeApiServer, from: number) {
  return server.requests.slice(from).filter((r) => r.method !== "GET").map((r) => ({ path: r.path, as: r.impersonatedBy ? `${r.user} by ${r.impersonatedBy}` : (r.user ?? "(refused before it acted)"), dryRun: r.query.dryRun === "All", fieldManager: r.fieldManager }));
}
/** Who wrote each object: a set of identities per path. */
function writersByPath(writes: ReturnType<typeof writesSince>): Record<string, string[]> {
  const by: Record<string, Set<string>> = {};
  for (const w of writes) (by[w.path] ??= new Set()).add(w.as);
  return Object.fromEntries(Object.entries(by).map(([path, set]) => [path, [...set].sort()]));
}
const images = (pod: { containers: Array<{ name: string; image: string }>; initContainers?: Array<{ name: string; image: string }> }) =>
  [...(pod.initContainers ?? []), ...pod.containers].map((c) => `${c.name}=${c.image}`);
const sensitive = () => [PASSWORD, LICENSE_KEY, PROXY_PASSWORD, kube.token, operatorToken];
const SWITCH = ["switch-updates", "switch-rollback", "switch-deckhouse-registry", "switch-deckhouse", "switch-rollout", "switch-bashible"];

const OLD_SUM = "1f".repeat(32);
const NEW_SUM = "9c".repeat(32);
const MASTERS = ["master-0", "master-1", "master-2"];

/**
 * The test plays Deckhouse's node-manager and bashible on three masters: once deckhouse-registry names the target
 * registry, the master group's checksum is re-rendered and master-0 and master-1 apply it at once; master-2 applies
 * it when `lagging()` returns false (checked each time the switch reads the NodeGroups). Bounded: stopped by the test.
 */
function nodeManager(lagging: () => boolean): { stop(): void } {
  seedNodeGroups(kube, [{ name: "master", nodes: MASTERS }], () => OLD_SUM);
  let rerendered = false;
  let caughtUp = false;
  const timer = setInterval(() => {
    const secret = kube.get("v1", "Secret", "d8-system", "deckhouse-registry") as { data?: { address?: string } } | undefined;
    if (!rerendered && secret?.data?.address === b64(registry.host)) {
      rerendered = true;
      setChecksums(kube, { master: NEW_SUM });
      bashibleApplied(kube, "master-0", NEW_SUM);
      bashibleApplied(kube, "master-1", NEW_SUM);
    }
    if (rerendered && !caughtUp && !lagging()) {
      caughtUp = true;
      bashibleApplied(kube, "master-2", NEW_SUM);
    }
  }, 20);
  return { stop: () => clearInterval(timer) };
}
const nodeGroupReads = () => kube.requests.filter((r) => r.method === "GET" && r.path === "/apis/deckhouse.io/v1/nodegroups").length;

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

  // two Deployed modules of ModuleSource deckhouse (and one of another source, not the copy's business): a record
  // that lacks one of them is refused in one line naming it
  const modules = [moduleRelease("console", "v1.2.3"), moduleRelease("stronghold", "v0.5.0"), moduleRelease("partner-thing", "v3.0.0", { source: "partner" }), moduleConfig("operator-trivy", { enabled: false })];
  for (const object of modules) kube.put(object);
  try {
    const lacking = await engine(record({ modules: [{ name: "console", version: "v1.2.3" }], securityDatabases: false })).preview();
    expect(lacking.error).toBe(
      'images-copier: refusing to switch: copy stack "org/images-copier/copy" did not copy the Deployed module stronghold v0.5.0 of ModuleSource deckhouse (its record lacks them); ' +
        "after the switch Deckhouse pulls them from the target; set copyModules: deployed and run the copy stack again (change runId: `pulumi config set runId <new value>`, then `pulumi up` on the copy stack), then preview this stack again",
    );
    expect(lacking.errorDetail).toBe(lacking.error);
    expect(lacking.steps.filter((s) => s.op !== "read").map((s) => s.type)).toEqual(["pulumi:pulumi:Stack"]);
    expect(cluster()).toEqual(before);
  } finally {
    for (const object of modules) kube.remove(object.apiVersion, object.kind, "", object.metadata.name);
  }
});

test("RBAC with one rule of docs/permissions/switch-stack.yaml removed: the preview fails in one line naming the missing permission", async () => {
  seedDeckhouseCluster(kube, vendorCluster());
  const before = cluster();
  const rules = operatorGrants("switch-stack");
  // exactly one rule: get/patch of ModuleConfig deckhouse (ModuleConfigs registry and operator-trivy stay readable)
  const without = rules.map((g) => ({ ...g, rules: g.rules.filter((r) => !(r.resources?.includes("moduleconfigs") && r.resourceNames?.includes("deckhouse"))) }));
  expect(rules.flatMap((g) => g.rules).length - without.flatMap((g) => g.rules).length).toBe(1);
  kube.setGrants(OPERATOR, without);
  try {
    const preview = await engine().preview();
    expect(preview.error).toContain('moduleconfigs.deckhouse.io "deckhouse" is forbidden: User "images-copier-operator" cannot get resource "moduleconfigs" in API group "deckhouse.io" at the cluster scope');
    expect(preview.error).not.toContain("\n");
    expect(cluster()).toEqual(before);
  } finally {
    kube.setGrants(OPERATOR, rules);
  }
});

test("preview, up, up again, refresh and destroy: the switch made, an empty diff, everything restored", async () => {
  seedDeckhouseCluster(kube, vendorCluster());
  // three masters, master-2's bashible lagging for a few of the switch's looks; application pods on the old registry
  const readsBefore = nodeGroupReads();
  const manager = nodeManager(() => nodeGroupReads() - readsBefore < 4);
  seedOldRegistryWorkloads(kube, OLD);
  const original = cluster();
  const stack = engine();
  const firstRequest = kube.requests.length;
  stack.setConfig({ restartOldRegistryWorkloads: "istio" });
  try {

  let mark = kube.requests.length;
  const preview = await stack.preview();
  expect(preview.error).toBeUndefined();
  for (const name of SWITCH) expect([name, ops(preview)[name]]).toEqual([name, "create"]);
  expect(cluster()).toEqual(original);
  // preview proved each write as a server-side dry run with the write's identity: Deckhouse's objects as
  // system:sudouser (kubeImpersonate's default; this release has no admission policy, the identity is the same)
  const previewWrites = writesSince(kube, mark);
  expect(previewWrites.filter((w) => !w.dryRun)).toEqual([]);
  expect(writersByPath(previewWrites)).toEqual({ [MODULE_CONFIG_PATH]: [OPERATOR], [SECRET_PATH]: [SUDO], [DEPLOYMENT_PATH]: [SUDO] });
  expect(preview.diagnostics.map((d) => d.message)).toContain(
    "images-copier: the cluster admits every write (server-side dry runs): patch ModuleConfig deckhouse as kubeconfig user test; patch Secret d8-system/deckhouse-registry as system:sudouser; patch Deployment d8-system/deckhouse as system:sudouser",
  );
  const plan = (plainOutputs(preview) as { plan: Record<string, unknown> }).plan;
  expect(plan.release).toBe(`Deckhouse v1.46.3 (${copied}), image ${SOURCE_IMAGE}, copied by run 1 of copy stack ${COPY_STACK}; the Deckhouse running now is that release`);
  expect(plan.releaseChannel).toMatch(/^removes releaseChannel Stable from ModuleConfig deckhouse/);
  expect(findPlaintextSecrets(preview, sensitive())).toEqual([]);

  // the first pod of the new ReplicaSet cannot pull (ImagePullBackOff); the switch restarts it and the next one runs
  const controller = await playController((image, attempt) => image === targetImage() && attempt === 1);
  kube.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "kube-proxy-old", namespace: "kube-system" }, spec: { containers: [{ name: "kube-proxy", image: `${OLD}/kube-proxy:v1` }] } });
  mark = kube.requests.length;
  const up = await stack.up();
  expect(up.error).toBeUndefined();
  // the Patch resources went through the explicit provider (its kubeconfig's user `as: system:sudouser`), applied
  // under the switch's field manager; the release channel's ModuleConfig (not Deckhouse-labelled) and the restart of
  // the application's Deployment on the old registry (restartOldRegistryWorkloads: istio) as the user
  const upWrites = writesSince(kube, mark).filter((w) => !w.dryRun);
  // ... and the restart of the Deckhouse pod stuck in ImagePullBackOff: a delete of that pod, as the operator
  const podDeletes = upWrites.filter((w) => w.path.startsWith("/api/v1/namespaces/d8-system/pods/"));
  expect(podDeletes).toHaveLength(1);
  expect(writersByPath(upWrites)).toEqual({ [MODULE_CONFIG_PATH]: [OPERATOR], [SECRET_PATH]: [SUDO], [DEPLOYMENT_PATH]: [SUDO], [SHOP_WEB_PATH]: [OPERATOR], [podDeletes[0].path]: [OPERATOR] });
  expect(upWrites.filter((w) => w.path === SECRET_PATH || w.path === DEPLOYMENT_PATH).map((w) => w.fieldManager)).toEqual(["images-copier-switch", "images-copier-switch"]);
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
  expect(plainOutputs(up)).toMatchObject({ rolloutReady: true, oldRegistry: OLD });
  const onOld = plainOutputs(up).oldRegistryPods as Array<{ namespace: string; name: string }>;
  expect(onOld.map((p) => `${p.namespace}/${p.name}`)).toContain("kube-system/kube-proxy-old");
  kube.remove("v1", "Pod", "kube-system", "kube-proxy-old");
  // the switch waited for master-2's bashible, relaying the progress, then went on
  const messages = up.diagnostics.map((d) => d.message);
  expect(messages).toContain("images-copier: bashible: master: 2/3 nodes up to date (Updating)");
  expect(messages).toContain("images-copier: bashible has applied the new registry on NodeGroup master (3 nodes)");
  expect(plainOutputs(up).nodeGroups).toEqual([{ name: "master", checksum: NEW_SUM, before: OLD_SUM, nodes: 3, upToDate: 3 }]);
  // grouped by owner, the istio sidecar called out; with restartOldRegistryWorkloads: istio only the sidecar's Deployment restarted
  const workloads = plainOutputs(up).oldRegistryWorkloads as Array<{ kind: string; namespace: string; name: string; pods: string[]; istioSidecar: boolean; deckhouse: boolean; restart?: string }>;
  const byName = Object.fromEntries(workloads.map((w) => [`${w.kind} ${w.namespace}/${w.name}`, w]));
  expect(byName["DaemonSet logging/log-shipper"]).toMatchObject({ pods: ["log-shipper-7xk2p"], istioSidecar: false, deckhouse: false });
  expect(byName["DaemonSet logging/log-shipper"].restart).toBeUndefined();
  expect(byName["Deployment shop/web"]).toMatchObject({ pods: ["web-6d8f7b-k2m4x", "web-6d8f7b-p9q7z"], images: [ISTIO_IMAGE(OLD)], istioSidecar: true, restart: expect.stringMatching(/^restarted at /) });
  expect(byName["Pod debug/toolbox"]).toMatchObject({ pods: ["toolbox"], images: [`${OLD}:toolbox`] });
  expect(byName["DaemonSet d8-monitoring/node-exporter"]).toMatchObject({ deckhouse: true });
  expect(messages).toContain(`images-copier: on the old registry: Deployment shop/web (2 pods, istio sidecar): ${ISTIO_IMAGE(OLD)}; ${byName["Deployment shop/web"].restart}`);
  expect(restartedAt(kube, "apps/v1", "Deployment", "shop", "web")).toBe(byName["Deployment shop/web"].restart?.replace("restarted at ", ""));
  for (const [apiVersion, kind, ns, name] of [["apps/v1", "DaemonSet", "logging", "log-shipper"], ["apps/v1", "DaemonSet", "d8-monitoring", "node-exporter"], ["apps/v1", "Deployment", "shop", "cart"]]) {
    expect([name, restartedAt(kube, apiVersion, kind, ns, name)]).toEqual([name, undefined]);
  }
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
  const oldToken = operatorToken;
  const rotated = kube.rotateToken(operatorToken);
  operatorToken = /token: (\S+)/.exec(rotated)![1]; // the later scenarios act with the new token
  stack.setConfig({ "kubernetes:kubeconfig": { secret: rotated } });
  const refused = await stack.destroy();
  expect(refused.error).toMatch(/^images-copier: (rollback not started|release channel not restored): the cluster refused the credentials of the last `pulumi up` \(401 Unauthorized\), which `pulumi destroy` uses; .*run `pulumi destroy --run-program`/);
  expect(refused.errorDetail).toBe(refused.error);
  expect(cluster()).toEqual(switched);
  // what failed stays in the state (the rollback capture, the channel); the retained patches went (nothing to undo)
  expect(refused.state.resources.map((r) => r.urn)).toEqual(expect.arrayContaining(["switch-updates", "switch-rollback"].map((n) => expect.stringContaining(`::${n}`))));

  mark = kube.requests.length;
  const destroy = await stack.destroy({ runProgram: true });
  expect(destroy.error).toBeUndefined();
  // the rollback (the project's own client) wrote Deckhouse's objects as system:sudouser too
  expect(writersByPath(writesSince(kube, mark))).toEqual({ [MODULE_CONFIG_PATH]: [OPERATOR], [SECRET_PATH]: [SUDO], [DEPLOYMENT_PATH]: [SUDO] });
  // every request of the program and its providers came as the operator (Deckhouse's objects' writes impersonating
  // system:sudouser), and RBAC refused none
  const requests = kube.requests.slice(firstRequest).filter((r) => r.attributes && r.user !== CONTROLLER_USER);
  expect(new Set(requests.map((r) => r.impersonatedBy ?? r.user))).toEqual(new Set([OPERATOR]));
  expect(requests.filter((r) => r.code === 403)).toEqual([]);
  expect(requests.map((r) => `${r.attributes?.verb} ${r.attributes?.resource}`)).toEqual(expect.arrayContaining(["patch secrets", "patch deployments", "patch moduleconfigs", "list pods"]));
  const restored = cluster();
  expect(restored.secret).toEqual(original.secret);
  expect(images(restored.pod)).toEqual(images(original.pod));
  expect(restored.channel).toBe("Stable");
  expect(restored.annotations).toEqual({});
  expect(destroy.state.resources).toEqual([]);
  expect(findPlaintextSecrets([refused, destroy], [...sensitive(), oldToken])).toEqual([]);
  } finally {
    manager.stop();
    clearNodeGroups(kube);
    clearOldRegistryWorkloads(kube);
  }
});

test("v1.76 legacy: Deckhouse renders <target>:<original tag> as soon as deckhouse-registry changes; the switch completes and the rollout is ready on that tag", async () => {
  const originalTag = `${target()}:v1.46.3`;
  // the copy pushed the release under its original tag too: the same manifest, the same digest
  expect((await pushImage(registry, REPO, { format: "docker", seed: "deckhouse-v1.46.3", layers: [{ size: 2048, seed: "switch-stack" }] }, "v1.46.3")).digest).toBe(copied);
  // the Deployment controller reports no finished rollout until the test says so (below)
  seedDeckhouseCluster(kube, vendorCluster({ deploymentStatus: { observedGeneration: 1, replicas: 2, updatedReplicas: 0, availableReplicas: 1 } }));
  // v1.76 with the registry module disabled (a managed Kubernetes): the legacy path
  const seeded = kube.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any;
  kube.put({ ...seeded, metadata: { ...seeded.metadata, annotations: { "core.deckhouse.io/version": "v1.76.1" } } });
  kube.put({ apiVersion: "deckhouse.io/v1alpha1", kind: "Module", metadata: { name: "registry" }, status: { conditions: [{ type: "EnabledByModuleManager", status: "False" }] } });

  // The test plays Deckhouse v1.76, which renders its image as `<address+path of deckhouse-registry>:<tag of the
  // running image>` whenever that differs (modules/002-deckhouse/hooks/set_module_image_value.go, CHANGELOG v1.76
  // "Overwrite currentReleaseImageName on mismatch"), and the Deployment controller. The Secret changes first: it
  // renders the original tag in the new registry at once (unless the switch's own patch of the image came first);
  // its helm release, computed from that moment, lands once more after the switch's patch. Only then is the rollout
  // ready, on the original tag, its pod running the copied digest. Either order ends so.
  let phase = 0;
  const deployment = () => kube.get("apps/v1", "Deployment", "d8-system", "deckhouse") as any;
  const render = (status?: Record<string, unknown>) => {
    const d = deployment();
    const containers = d.spec.template.spec.containers.map((c: { name: string }) => (c.name === "deckhouse" ? { ...c, image: originalTag } : c));
    kube.put({ ...d, spec: { ...d.spec, template: { ...d.spec.template, spec: { ...d.spec.template.spec, containers } } }, ...(status ? { status: { ...status, observedGeneration: d.metadata.generation ?? 1 } } : {}) });
  };
  const patchedByTheSwitch = () => deployment().spec.template.spec.containers.find((c: { name: string }) => c.name === "deckhouse").image === targetImage();
  const deckhouseAndController = setInterval(() => {
    const address = (kube.get("v1", "Secret", "d8-system", "deckhouse-registry") as any)?.data?.address;
    if (phase === 0 && address && Buffer.from(address, "base64").toString() === registry.host) {
      phase = 1;
      if (!patchedByTheSwitch()) render();
    } else if (phase === 1 && patchedByTheSwitch()) {
      phase = 2;
      render(READY);
      const pod = kube.get("v1", "Pod", "d8-system", "deckhouse-6f7d9c-x2k4p") as any;
      const containers = pod.spec.containers.map((c: { name: string }) => (c.name === "deckhouse" ? { ...c, image: originalTag } : c));
      kube.put({ ...pod, spec: { ...pod.spec, containers }, status: { ...pod.status, containerStatuses: [{ name: "deckhouse", image: originalTag, imageID: `docker-pullable://${target()}@${copied}`, ready: true }] } });
    }
  }, 10);
  try {
    const up = await engine(record({ originalTagImage: originalTag, registryPath: "legacy" })).up();
    expect(up.error).toBeUndefined();
    expect(phase).toBe(2);
    expect(plainOutputs(up)).toMatchObject({ rolloutReady: true, deckhouseImage: { from: SOURCE_IMAGE, to: targetImage() } });
    expect(images(cluster().pod)).toEqual([`init-downloaded-modules=${target()}@${moduleDigest}`, `deckhouse=${originalTag}`, `kube-rbac-proxy=${target()}:${TAG}`]);
    expect(findPlaintextSecrets(up, sensitive())).toEqual([]);
  } finally {
    clearInterval(deckhouseAndController);
    kube.remove("deckhouse.io/v1alpha1", "Module", "", "registry");
  }
});

test("a half-applied start: an up that failed at the rollout is completed by the next up, and destroy restores what was there first", async () => {
  seedDeckhouseCluster(kube, vendorCluster({ deploymentStatus: { observedGeneration: 1, conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "ReplicaSet has timed out progressing." }] } }));
  const original = cluster();
  const stack = engine();
  const failed = await stack.up();
  expect(failed.error).toMatch(/progress deadline: ReplicaSet has timed out progressing/);
  expect(images(cluster().pod)).toContain(`deckhouse=${targetImage()}`);

  // The test plays the Deployment controller: the new pods come up. master-2's bashible does not apply the new
  // configuration: the next up fails after nodeGroupsTimeoutMinutes in one line naming it.
  await playController();
  let stuck = true;
  const manager = nodeManager(() => stuck);
  try {
    stack.setConfig({ nodeGroupsTimeoutMinutes: "1" });
    const lagging = await stack.up();
    expect(lagging.error).toContain(
      `images-copier: bashible has not applied the new registry within 1 minute (nodeGroupsTimeoutMinutes): NodeGroup master: 2/3 nodes up to date, Updating True; lagging: master-2 (node.deckhouse.io/configuration-checksum "${OLD_SUM}"), expected "${NEW_SUM}" (journalctl -u bashible on those nodes; pulumi up waits again)`,
    );
    expect(ops(lagging)["switch-rollout"]).toBe("create");
    // master-2 catches up: the next up waits again and completes the switch
    stuck = false;
    const completed = await stack.up();
    expect(completed.error).toBeUndefined();
    expect(ops(completed)["switch-bashible"]).toBe("create");
    for (const name of SWITCH.slice(0, 5)) expect([name, ops(completed)[name]]).toEqual([name, "same"]);
  } finally {
    manager.stop();
    clearNodeGroups(kube);
  }

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

    const mark = kube.requests.length;
    const up = await stack.up();
    expect({ error: up.error, pullErrors: kubelet.pullErrors }).toEqual({ error: undefined, pullErrors: [] });
    // our check objects (no heritage label) were created and deleted as the kubeconfig's user, never impersonated
    const ours = writesSince(kube, mark).filter((w) => /\/(secrets|jobs|configmaps)(\/images-copier[^/]*)?$/.test(w.path) && !w.path.endsWith("/deckhouse-registry"));
    expect(ours.length).toBeGreaterThanOrEqual(4);
    expect([...new Set(ours.map((w) => w.as))]).toEqual([OPERATOR]);
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

describe("Deckhouse v1.66 with its admission policies on heritage: deckhouse objects", () => {
  const RELEASE = `${OLD}:v1.66.3`;
  const v166 = () => vendorCluster({ containers: [{ name: "deckhouse", image: RELEASE }, { name: "kube-rbac-proxy", image: `${OLD}:${TAG}` }] });

  test("preview, up and destroy work through impersonation: the server saw Deckhouse's objects written as system:sudouser, the rest as the user", async () => {
    seedDeckhouseCluster(kube66, v166());
    await playController(undefined, kube66);
    const original = cluster(kube66);
    const stack = engine(record({ sourceImage: RELEASE }), kube66, kube66.kubeconfigFor(operator66Token));

    let mark = kube66.requests.length;
    const preview = await stack.preview();
    expect(preview.error).toBeUndefined();
    expect(cluster(kube66)).toEqual(original);
    expect(writesSince(kube66, mark).filter((w) => !w.dryRun)).toEqual([]);
    expect(writersByPath(writesSince(kube66, mark))).toEqual({ [MODULE_CONFIG_PATH]: [OPERATOR], [SECRET_PATH]: [SUDO], [DEPLOYMENT_PATH]: [SUDO] });

    mark = kube66.requests.length;
    const up = await stack.up();
    expect(up.error).toBeUndefined();
    expect(images(cluster(kube66).pod)).toEqual([`init-downloaded-modules=${target()}@${moduleDigest}`, `deckhouse=${targetImage()}`, `kube-rbac-proxy=${target()}:${TAG}`]);
    expect(Buffer.from(cluster(kube66).secret.address, "base64").toString()).toBe(registry.host);
    expect(writersByPath(writesSince(kube66, mark).filter((w) => !w.dryRun))).toEqual({ [MODULE_CONFIG_PATH]: [OPERATOR], [SECRET_PATH]: [SUDO], [DEPLOYMENT_PATH]: [SUDO] });
    expect(findPlaintextSecrets(up, [...sensitive(), kube66.token, operator66Token])).toEqual([]);

    mark = kube66.requests.length;
    const destroy = await stack.destroy();
    expect(destroy.error).toBeUndefined();
    expect(writersByPath(writesSince(kube66, mark))).toEqual({ [MODULE_CONFIG_PATH]: [OPERATOR], [SECRET_PATH]: [SUDO], [DEPLOYMENT_PATH]: [SUDO] });
    expect(cluster(kube66).secret).toEqual(original.secret);
    expect(images(cluster(kube66).pod)).toEqual(images(original.pod));
    expect(cluster(kube66).channel).toBe("Stable");
  });

  test("the stack's rules without impersonate on system:sudouser: preview fails in one line naming the object, the identity and the server's message; nothing changed", async () => {
    seedDeckhouseCluster(kube66, v166());
    const original = cluster(kube66);
    const rules = operatorGrants("switch-stack");
    kube66.setGrants(OPERATOR, rules.map((g) => ({ ...g, rules: g.rules.filter((r) => !r.resources?.includes("users")) })));
    const mark = kube66.requests.length;
    let preview: RunResult;
    try {
      preview = await engine(record({ sourceImage: RELEASE }), kube66, kube66.kubeconfigFor(operator66Token)).preview();
    } finally {
      kube66.setGrants(OPERATOR, rules);
    }
    expect(preview.error).toMatch(
      /^images-copier: refusing to switch: the cluster refuses to patch Secret d8-system\/deckhouse-registry as system:sudouser \(impersonated by the kubeconfig's user "[^"]+"\): users "system:sudouser" is forbidden: User "images-copier-operator" cannot impersonate resource "users" in API group "" at the cluster scope \(403, server-side dry run; nothing changed\)\. To fix: grant the kubeconfig's user "[^"]+" the verb impersonate on users "system:sudouser"/,
    );
    expect(preview.errorDetail).toBe(preview.error);
    expect(preview.error).not.toContain("\n");
    expect(preview.steps.filter((s) => s.op !== "read").map((s) => s.type)).toEqual(["pulumi:pulumi:Stack"]);
    expect(cluster(kube66)).toEqual(original);
    expect(writesSince(kube66, mark).filter((w) => !w.dryRun)).toEqual([]);
    expect(findPlaintextSecrets(preview, [...sensitive(), operator66Token])).toEqual([]);
  });
});
