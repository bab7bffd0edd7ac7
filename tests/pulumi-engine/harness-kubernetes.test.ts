// The harness's simulation of the Kubernetes provider against the Kubernetes API test server (a simulation of the
// API, not a cluster; the provider binary does not run): a fixture program with a Secret, a ConfigMap fed by a
// StackReference, a `.get()`, a DeploymentPatch, a Job and a custom resource, through preview, up, up again, a
// config change and destroy. The program itself runs under the real Node language runtime.
import { join } from "node:path";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { findPlaintextSecrets, isSecret, plainOutputs, PulumiEngine, resourceOf, stepOf, type RunResult } from "../helpers/pulumi-engine";

const PROGRAM = join(__dirname, "..", "fixtures", "harness-kube-program");
const PASSWORD = "app-password-Q\"uote:colon";
const OTHER_TOKEN = "other-stack-token-55aa77";
const OLD_IMAGE = "registry.deckhouse.io/deckhouse/ee:v1.46.3";
const NEW_IMAGE = "registry.customer.example/deckhouse/ee:rock-solid-1.46";
const SIDECAR = { name: "kube-rbac-proxy", image: "registry.deckhouse.io/deckhouse/ee:rbac-proxy" };

let kube: KubeApiServer;
beforeAll(async () => {
  kube = await startKubeApiServer();
});
afterAll(() => kube?.stop());

const plan = (r: RunResult) => r.steps.map((s) => `${s.op} ${s.urn.split("::").pop()}`).sort();
const containers = () => (kube.get("apps/v1", "Deployment", "d8-system", "deckhouse")!.spec as any).template.spec.containers as Array<{ name: string; image?: string }>;
const snapshot = () => ["v1|Secret", "v1|ConfigMap", "batch/v1|Job", "apps/v1|Deployment"].map((k) => kube.list(k.split("|")[0], k.split("|")[1], "d8-system"));

test("Kubernetes resources, reads, patches (one retained) and a StackReference through preview, up, up again, a change and destroy", async () => {
  kube.put(deckhouseDeployment({ containers: [{ name: "deckhouse", image: OLD_IMAGE }, SIDECAR] }) as never);
  kube.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cluster-settings", namespace: "d8-system" }, data: { owner: "cluster" } });
  // the explicit provider's kubeconfig: a client certificate, acting as another user
  const auditKubeconfig = (await kube.clientCertKubeconfigYaml()).replace(/(    client-key-data: .*\n)/, "$1    as: audit-operator\n");
  // the server authorizes the impersonated user by RBAC: it may manage ConfigMaps in d8-system
  kube.setGrants("audit-operator", [{ namespace: "d8-system", rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["*"] }] }]);
  const engine = new PulumiEngine({
    programDir: PROGRAM,
    kube,
    stackReferences: { "org/other/prod": { outputs: { release: "v1.46.3", token: OTHER_TOKEN }, secretOutputNames: ["token"] } },
    config: { password: { secret: PASSWORD }, image: NEW_IMAGE, otherStack: "org/other/prod", "kubernetes:kubeconfig": { secret: kube.kubeconfigYaml }, auditKubeconfig: { secret: auditKubeconfig } },
  });
  const sensitive = [PASSWORD, OTHER_TOKEN, kube.token, auditKubeconfig.match(/client-key-data: (\S+)/)![1]];

  const before = snapshot();
  const preview = await engine.preview();
  expect(preview.error).toBeUndefined();
  expect(plan(preview)).toEqual(
    ["create audit", "create audit-note", "create cluster-settings", "create creds", "create deckhouse-image", "create default_4_23_0", "create harness-kube-test", "create job", "create module-config", "create settings", "read deckhouse", "read other"].sort(),
  );
  expect(snapshot()).toEqual(before);
  // reads happen in preview too
  expect(plainOutputs(preview).imageBefore).toBe(OLD_IMAGE);

  const up = await engine.up();
  expect(up.error).toBeUndefined();
  const secretObject = kube.get("v1", "Secret", "d8-system", "app-creds")!;
  expect(secretObject.stringData).toBeUndefined();
  expect(Buffer.from((secretObject.data as Record<string, string>).password, "base64").toString()).toBe(PASSWORD);
  expect(kube.get("v1", "ConfigMap", "d8-system", "app-settings")!.data).toEqual({ greeting: "hello", release: "v1.46.3" });
  // the patch merged the deckhouse container by name and left the sidecar alone
  expect(containers()).toEqual([{ name: "deckhouse", image: NEW_IMAGE }, SIDECAR]);
  expect(kube.get("v1", "ConfigMap", "d8-system", "cluster-settings")!.data).toEqual({ owner: "cluster", patchedBy: "harness-kube" });
  expect(kube.get("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse")!.spec).toEqual({ version: 1, settings: { releaseChannel: "Stable" } });
  // every object went through the REST API with the identity of its provider: the explicit provider's client
  // certificate acting as its kubeconfig's `as:` user; the default provider's (the stack's) token, as itself
  const identities = (path: string) => new Set(kube.requests.filter((r) => r.path.endsWith(path)).map((r) => `${r.method} ${r.auth} as ${r.impersonateUser ?? "-"}`));
  expect(identities("/configmaps/audit-note")).toEqual(new Set(["PATCH client-certificate as audit-operator"]));
  expect(identities("/secrets/app-creds")).toEqual(new Set(["PATCH token as -"]));
  expect(kube.requests.find((r) => r.path.endsWith("/secrets/app-creds"))).toMatchObject({ contentType: "application/apply-patch+yaml", fieldManager: expect.stringMatching(/^pulumi-kubernetes-[0-9a-f]{8}$/) });
  const jobUid = plainOutputs(up).jobUid;
  expect(jobUid).toBe(kube.get("batch/v1", "Job", "d8-system", "work")!.metadata.uid);
  // secrets: the Secret's data, the default provider's kubeconfig and the other stack's secret output stay marked
  const creds = resourceOf(up.state, "creds")!;
  expect(isSecret(creds.outputs.data)).toBe(true);
  expect(isSecret(up.state.resources.find((r) => r.type === "pulumi:providers:kubernetes")!.inputs.kubeconfig)).toBe(true);
  expect(isSecret(up.outputs.otherToken)).toBe(true);
  expect(findPlaintextSecrets(up, sensitive)).toEqual([]);

  const again = await engine.up();
  expect(plan(again).filter((p) => !p.startsWith("same ") && !p.startsWith("read "))).toEqual([]);
  expect(plainOutputs(again).imageBefore).toBe(NEW_IMAGE);

  // a Job's spec is immutable: replaced (deleted first, same name); a patch is updated in place
  engine.setConfig({ image: `${NEW_IMAGE}-2`, greeting: "hi" });
  const changed = await engine.up();
  expect(changed.error).toBeUndefined();
  expect(stepOf(changed, "job")).toMatchObject({ op: "replace", replaceKeys: ["spec"], deleteBeforeReplace: true });
  expect(stepOf(changed, "deckhouse-image")).toMatchObject({ op: "update", keys: ["spec"] });
  expect(stepOf(changed, "settings")).toMatchObject({ op: "update", keys: ["data"] });
  expect(kube.get("batch/v1", "Job", "d8-system", "work")!.metadata.uid).not.toBe(jobUid);
  expect(containers()).toEqual([{ name: "deckhouse", image: `${NEW_IMAGE}-2` }, SIDECAR]);

  const destroyed = await engine.destroy();
  expect(destroyed.error).toBeUndefined();
  for (const [apiVersion, kind, name] of [["v1", "Secret", "app-creds"], ["v1", "ConfigMap", "app-settings"], ["v1", "ConfigMap", "audit-note"], ["batch/v1", "Job", "work"]]) {
    expect(kube.get(apiVersion, kind, "d8-system", name)).toBeUndefined();
  }
  // the read Deployment stays; the patch's own fields go with it (no other field manager is modelled), while the
  // retained patch (retainOnDelete) leaves its field where it is
  expect(containers()).toEqual([{ name: "deckhouse" }, SIDECAR]);
  expect(kube.get("v1", "ConfigMap", "d8-system", "cluster-settings")!.data).toEqual({ owner: "cluster", patchedBy: "harness-kube" });
  expect(engine.state.resources).toEqual([]);
});
