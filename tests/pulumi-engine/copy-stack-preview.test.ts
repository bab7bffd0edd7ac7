// The project's own program (index.ts), copy stage, previewed under the real Node language runtime, type-checked
// by the ts-node @pulumi/pulumi vendors (the suite's one type-checked run; every other harness run is
// transpile-only). Cluster reads come from the Kubernetes API test server (a simulation of the API, not a cluster).
import { join } from "node:path";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { deckhouseRegistrySecret } from "../helpers/deckhouse-registry-secret";
import { moduleConfig, moduleObject, moduleRelease } from "../helpers/deckhouse-modules";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { findPlaintextSecrets, isSecret, opOf, plainOutputs, PulumiEngine } from "../helpers/pulumi-engine";

const ROOT = join(__dirname, "..", "..");
const TARGET_PASSWORD = 'target-Pa55"word:xyz';
const LICENSE_KEY = "license-key-00aa11bb22cc33";
const TARGET_IMAGE = "registry.customer.example/deckhouse/ee:rock-solid-1.46";
const DECKHOUSE_IMAGE = "registry.deckhouse.io/deckhouse/ee:rock-solid";
const PROXY_PASSWORD = "proxy-Pa55-word";

let kube: KubeApiServer;
beforeAll(async () => {
  kube = await startKubeApiServer();
  kube.put(deckhouseRegistrySecret({ host: "registry.deckhouse.io", username: "license-token", password: LICENSE_KEY }));
  kube.put(
    deckhouseDeployment({
      containers: [{ name: "deckhouse", image: DECKHOUSE_IMAGE, env: [{ name: "HTTPS_PROXY", value: `http://proxy:${PROXY_PASSWORD}@squid.corp:3128` }] }],
      annotations: { "core.deckhouse.io/version": "v1.58.3" },
    }) as never,
  );
  // two Deployed modules of ModuleSource deckhouse (one with its own channel), an older release of one, a module
  // of another source; operator-trivy on; Deckhouse's own channel Stable
  kube.put(moduleRelease("console", "v1.2.3"));
  kube.put(moduleRelease("console", "v1.2.2", { phase: "Superseded" }));
  kube.put(moduleRelease("stronghold", "v0.5.0"));
  kube.put(moduleRelease("partner-thing", "v3.0.0", { source: "partner" }));
  kube.put(moduleObject("console", { releaseChannel: "EarlyAccess" }));
  kube.put(moduleConfig("operator-trivy", { enabled: true }));
  kube.put(moduleConfig("deckhouse", { settings: { releaseChannel: "Stable" } }));
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
      // where the pod runs: JSON-valued keys, as `pulumi config set jobTolerations '[…]'` stores them
      jobNodeSelector: '{"node-role.deckhouse.io/system":""}',
      jobTolerations: '[{"key":"dedicated.deckhouse.io","operator":"Equal","value":"system"}]',
      unschedulableMinutes: "3",
    },
  });
  const objectsBefore = ["Secret", "ConfigMap", "Pod"].map((kind) => kube.list("v1", kind, "d8-system"));

  const mark = kube.requests.length;
  const preview = await engine.preview();
  expect(preview.error).toBeUndefined();
  // the run's creates in d8-system were proven as server-side dry runs, as the kubeconfig's user (our objects carry
  // no heritage label: never impersonated), and the preview says so
  const writes = kube.requests.slice(mark).filter((r) => r.method !== "GET");
  expect(writes.filter((r) => r.query.dryRun !== "All")).toEqual([]);
  expect(writes.filter((r) => r.method === "POST").map((r) => `${r.path} as ${r.user}${r.impersonatedBy ? ` by ${r.impersonatedBy}` : ""}`)).toEqual([
    "/api/v1/namespaces/d8-system/secrets as kubernetes-admin",
    "/api/v1/namespaces/d8-system/configmaps as kubernetes-admin",
    "/apis/batch/v1/namespaces/d8-system/jobs as kubernetes-admin",
  ]);
  expect(preview.diagnostics.map((d) => d.message).find((m) => m.startsWith("images-copier: the cluster admits every write"))).toMatch(
    /^images-copier: the cluster admits every write \(server-side dry runs\): create Secret d8-system\/images-copier-config as kubeconfig user test; create ConfigMap d8-system\/images-copier-bundle-[0-9a-f]{12} as kubeconfig user test; create Job d8-system\/copy-images as kubeconfig user test$/,
  );
  // the cluster is read directly (nothing of it in the state), and the run's objects are declared, not created
  expect(preview.steps.filter((step) => step.op === "read")).toEqual([]);
  for (const name of ["images-copier-config", "copier-bundle", "copy-images", "copy-run"]) expect(opOf(preview, name)).toBe("create");
  expect(["Secret", "ConfigMap", "Pod"].map((kind) => kube.list("v1", kind, "d8-system"))).toEqual(objectsBefore);
  expect(kube.list("batch/v1", "Job", "d8-system")).toEqual([]);
  expect(preview.state.resources).toEqual([]);

  // the plan is readable: the Job's spec as the engine received it, plain; the Secret's data a secret
  const registered = (name: string) => preview.messages.find((m) => m.rpc === "RegisterResource" && m.name === name)!.payload as any;
  const pod = registered("copy-images").spec.template.spec;
  expect(pod.initContainers[0].image).toBe(DECKHOUSE_IMAGE);
  expect(pod.containers[0].image).toBe("node:20-bookworm-slim");
  expect(pod.nodeSelector).toEqual({ "node-role.deckhouse.io/system": "" });
  expect(pod.tolerations).toEqual([{ key: "dedicated.deckhouse.io", operator: "Equal", value: "system" }]);
  expect(registered("copy-run").unschedulableMinutes).toBe(3);
  expect(preview.diagnostics.map((d) => d.message)).toContain(
    `images-copier: the copy Job's pod: nodeSelector {"node-role.deckhouse.io/system":""}, tolerations [{"key":"dedicated.deckhouse.io","operator":"Equal","value":"system"}]; the run fails when the scheduler cannot place it for 3 minutes (unschedulableMinutes)`,
  );
  expect(pod.containers[0].env.find((e: { name: string }) => e.name === "HTTPS_PROXY")).toEqual({ name: "HTTPS_PROXY", valueFrom: { secretKeyRef: { name: "images-copier-config", key: "proxy.HTTPS_PROXY" } } });
  expect(isSecret(registered("images-copier-config").data)).toBe(true);
  expect(registered("copier-bundle").bytes).toBeGreaterThan(100_000); // the bundle's size, never its text

  const outputs = plainOutputs(preview) as { sourceImage: string; targetImage: string; deckhouseRelease: unknown; jobPlacement: unknown };
  expect(outputs.jobPlacement).toEqual({ nodeSelector: { "node-role.deckhouse.io/system": "" }, tolerations: [{ key: "dedicated.deckhouse.io", operator: "Equal", value: "system" }], unschedulableMinutes: 3 });
  expect(outputs.sourceImage).toBe(DECKHOUSE_IMAGE);
  expect(outputs.targetImage).toBe(TARGET_IMAGE);
  expect(outputs.deckhouseRelease).toEqual({ version: "v1.58.3", source: "annotation core.deckhouse.io/version of d8-system/deckhouse" });
  // the modules, the databases and the channel: in the Job's command, the plan output and the preview's lines
  const command = pod.containers[0].command as string[];
  expect(command.join(" ")).toContain("--with-modules /config/modules.json --with-security-databases --with-release-channel stable");
  expect(pod.volumes.find((v: any) => v.secret).secret.items.map((i: { key: string }) => i.key)).toContain("modules.json");
  expect((plainOutputs(preview) as { plan: unknown }).plan).toEqual({
    release: { from: "the Deckhouse image's list (read by the Job)" },
    deckhouse: { images: 1, targetImage: TARGET_IMAGE },
    modules: {
      mode: "deployed",
      copied: [
        { name: "console", version: "v1.2.3", channel: "early-access" },
        { name: "stronghold", version: "v0.5.0", channel: "stable" },
      ],
      notCopied: [{ name: "partner-thing", version: "v3.0.0", source: "partner" }],
    },
    securityDatabases: { images: 4, why: "operator-trivy is enabled" },
    updates: { images: 1, releaseChannel: "stable", why: "the cluster's release channel (copyReleaseChannel)" },
  });
  const info = preview.diagnostics.map((d) => d.message).join("\n");
  expect(info).toContain("copy plan: modules: 2: console v1.2.3 (early-access), stronghold v0.5.0 (stable); each with its release image");
  expect(info).toContain("copy plan: not copied (their registry does not change): partner-thing v3.0.0 from ModuleSource partner");
  expect(info).toContain("copy plan: security databases: 4 (operator-trivy is enabled)");
  expect(findPlaintextSecrets(preview, [TARGET_PASSWORD, LICENSE_KEY, PROXY_PASSWORD, kube.token])).toEqual([]);
});
