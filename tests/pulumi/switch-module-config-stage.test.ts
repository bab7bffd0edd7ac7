// The switch stage's ModuleConfig path under Pulumi's mocks, the cluster read from the Kubernetes API test server: a
// v1.75 cluster in Direct mode, whose Deployment names the in-cluster address. What the gate checks (the section's
// upstream stands for that address; the Deckhouse image under its current tag in the target), what is declared
// (RegistryModeSwitch instead of the legacy patches; the rollout wait expects the unchanged in-cluster image), and
// that the sections travel only as secrets.
import type { SwitchStageConfig } from "../../stack-config";
import type { RegistryChecker } from "../../components/switch/registry-checks";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { plaintextStrings, reveal, runSwitchStage, seedDeckhouseCluster, switchConfig } from "../helpers/switch-fixture";

const MC = "deckhouse.io/v1alpha1";
const UPSTREAM = "nexus.corp.example:8443/d8/ee";
const IN_CLUSTER = "registry.d8-system.svc:5001/system/deckhouse";
const COPIED = `sha256:${"a".repeat(64)}`;
const DIGEST = `sha256:${"d".repeat(64)}`;
const NEW = "registry.example.com:5443/client/deckhouse";
const TARGET = `${NEW}:rock-solid-1.75`;
const PASSWORD = 'p"a:ss-Target';
const UPSTREAM_PASSWORD = "nexus-Pa55word";

let server: KubeApiServer;
const references: string[][] = [];
const checker: RegistryChecker = {
  bearer: async (registry) => ({ registry, ok: true, status: 401, schemes: ["bearer"], message: "bearer" }),
  async exists(refs) {
    references.push(refs);
    return refs.map((reference) => ({ reference, exists: true, digest: reference === TARGET ? COPIED : DIGEST }));
  },
};

const config: SwitchStageConfig = switchConfig({ targetImage: TARGET, targetUsername: "client", targetPassword: PASSWORD, copyStack: "org/images-copier/copy" });

const record = {
  status: "succeeded",
  verified: true,
  targetImage: TARGET,
  runId: "1",
  sourceImage: `${UPSTREAM}:v1.75.1`,
  sourceDigest: COPIED,
  sourceRepository: UPSTREAM,
  imagesDigest: `sha256:${"b".repeat(64)}`,
  updateImages: false,
  // the copy stack read the upstream from the same Direct section (copy-today: the switch refuses another path)
  registryPath: "Direct",
};

beforeAll(async () => {
  server = await startKubeApiServer();
});

afterAll(async () => {
  await server?.stop();
});

test("Direct: the gate reads the in-cluster address as the upstream, checks <target>:<current tag>, and declares RegistryModeSwitch with secret sections only", async () => {
  seedDeckhouseCluster(server, {
    source: UPSTREAM,
    containers: [{ name: "deckhouse", image: `${IN_CLUSTER}:v1.75.1` }, { name: "kube-rbac-proxy", image: `${IN_CLUSTER}@${DIGEST}` }],
    podImageID: `containerd://${IN_CLUSTER}@${COPIED}`,
    releaseChannel: "Stable",
  });
  const direct = { imagesRepo: UPSTREAM, username: "robot", password: UPSTREAM_PASSWORD, scheme: "HTTPS" };
  server.put({ apiVersion: MC, kind: "ModuleConfig", metadata: { name: "deckhouse" }, spec: { version: 1, settings: { releaseChannel: "Stable", registry: { mode: "Direct", direct } } } });
  server.put({ apiVersion: MC, kind: "Module", metadata: { name: "registry" }, status: { conditions: [{ type: "EnabledByModuleManager", status: "True" }] } });

  const run = await runSwitchStage(config, record, { deps: { checker, kube: { kubeconfig: server.kubeconfigYaml } } });
  expect(run.refusal).toBeUndefined();
  expect(references.at(-1)).toEqual([TARGET, `${NEW}@${DIGEST}`, `${NEW}:v1.75.1`]);

  const types = run.registered.map((r) => r.type.split(":").pop());
  expect(types).toContain("RegistryModeSwitch");
  for (const legacy of ["SwitchSnapshot", "SecretPatch", "DeploymentPatch"]) expect(types).not.toContain(legacy);

  const modeSwitch = run.resource(":RegistryModeSwitch");
  expect(reveal(modeSwitch.inputs.target)).toEqual([{ imagesRepo: NEW, scheme: "HTTPS", username: "client", password: PASSWORD }, true]);
  expect(reveal(modeSwitch.inputs.previous)).toEqual([direct, true]);
  expect(modeSwitch.inputs).toMatchObject({ mode: "Direct", targetRepo: NEW, previousRepo: UPSTREAM, migrates: false });
  expect(modeSwitch.inputs.migration).toBeUndefined();
  expect(run.resource(":DeckhouseRollout").inputs.expectedImage).toBe(`${IN_CLUSTER}:v1.75.1`);
  expect(run.options(":RegistryModeSwitch").dependsOn).toBeDefined();

  expect(run.outputs?.registryPath).toBe(`registry module, mode Direct (ModuleConfig deckhouse spec.settings.registry.direct, imagesRepo ${UPSTREAM})`);
  expect(run.outputs?.plan.moduleConfig[0]).toBe(
    `sets ModuleConfig deckhouse spec.settings.registry.direct to imagesRepo ${NEW} (user client; license removed), mode Direct kept; waits for Secret d8-system/registry-state: mode Direct, Ready "True"`,
  );
  expect(run.outputs?.rollback).toEqual([
    `ModuleConfig deckhouse spec.settings.registry.direct back to imagesRepo ${UPSTREAM} with its credentials as before the switch, mode Direct`,
    "then waits for Secret d8-system/registry-state Ready and the Deckhouse rollout",
    "releaseChannel Stable, after the registry",
  ]);

  const leaks = run.registered.flatMap((r) => [...plaintextStrings(r.inputs), ...plaintextStrings(r.state)]).filter((s) => s.text.includes(PASSWORD) || s.text.includes(UPSTREAM_PASSWORD));
  expect(leaks).toEqual([]);
  expect(JSON.stringify(run.outputs)).not.toContain(UPSTREAM_PASSWORD);
});

test("a configurable mode while the registry module is disabled is refused in one line, nothing declared", async () => {
  server.put({ apiVersion: MC, kind: "Module", metadata: { name: "registry" }, status: { conditions: [{ type: "EnabledByModuleManager", status: "False" }] } });
  const run = await runSwitchStage(config, record, { deps: { checker, kube: { kubeconfig: server.kubeconfigYaml } } });
  expect(run.refusal?.message).toMatch(/^images-copier: refusing to switch registries: ModuleConfig deckhouse sets registry mode Direct, but Module registry is disabled \(Deckhouse v1\.75\.1\), so nothing would act on a change; [^\n]+$/);
  expect(run.registered.filter((r) => !r.type.startsWith("pulumi:pulumi:"))).toEqual([]);
});
