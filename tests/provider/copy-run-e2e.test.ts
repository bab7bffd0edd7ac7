// The copy run end to end with real parts: the provider applies the rendered Secret, ConfigMap and Job to the
// loopback Kubernetes API test server; the test plays the kubelet by running the Job's own command (the bundled
// copier from the ConfigMap, the Secret's files as /config) between two real registries on 127.0.0.1.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCopierBundle } from "../../components/copy/copier-bundle";
import { buildCopyRunManifests } from "../../components/copy/manifests";
import { FAILURE_MESSAGE, makeCopyRunProvider, SUCCESS_MESSAGE, type CopyRunOutputs } from "../../components/copy/run-provider";
import { sourceRepoConfig } from "../../components/copy/registry-credentials";
import { removeDir, tempDir, verifyCopiedRelease } from "../helpers/copy-fixture";
import { seedRelease, type SeededRelease } from "../helpers/images";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";
import { startRegistry, type TestRegistry } from "../helpers/registry";

let kube: KubeApiServer;
let source: TestRegistry;
let target: TestRegistry;
let release: SeededRelease;
let work: string;
let bundle: string;
const children = new Set<ChildProcess>();

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

/** The kubelet's part: mounts become temp dirs, the init container's list is the release's, the command runs as is. */
function runPod(job: KubeObject, podName: string): void {
  const ns = job.metadata.namespace as string;
  const podSpec = (job.spec as any).template.spec;
  const dir = join(work, podName);
  const mounts: Record<string, string> = { "/config": join(dir, "config"), "/opt/images-copier": join(dir, "opt"), "/images": join(dir, "images") };
  for (const path of Object.values(mounts)) mkdirSync(path, { recursive: true });
  const secret = kube.get("v1", "Secret", ns, podSpec.volumes.find((v: any) => v.secret).secret.secretName) as any;
  for (const [key, value] of Object.entries(secret.data as Record<string, string>)) writeFileSync(join(mounts["/config"], key), unb64(value), { mode: 0o400 });
  const configMap = kube.get("v1", "ConfigMap", ns, podSpec.volumes.find((v: any) => v.configMap).configMap.name) as any;
  for (const [key, value] of Object.entries(configMap.data as Record<string, string>)) writeFileSync(join(mounts["/opt/images-copier"], key), value);
  if (podSpec.initContainers) writeFileSync(join(mounts["/images"], "images.json"), JSON.stringify(release.images));

  const [command, ...args] = podSpec.containers[0].command.map((arg: string) => {
    for (const [from, to] of Object.entries(mounts)) if (arg === from || arg.startsWith(`${from}/`)) return to + arg.slice(from.length);
    return arg;
  });
  const child = spawn(command === "node" ? process.execPath : command, args, { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH, HOME: dir } });
  children.add(child);
  const relay = (chunk: Buffer) => kube.appendPodLog(ns, podName, chunk.toString("utf8"));
  child.stdout?.on("data", relay);
  child.stderr?.on("data", relay);
  child.on("close", (code) => {
    children.delete(child);
    const current = kube.get("batch/v1", "Job", ns, job.metadata.name);
    if (!current) return;
    const condition = code === 0 ? { type: "Complete", status: "True" } : { type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" };
    kube.put({ ...current, status: { ...(code === 0 ? { succeeded: 1 } : { failed: 1 }), conditions: [condition] } });
  });
}

beforeAll(async () => {
  [kube, source, target] = await Promise.all([
    startKubeApiServer(),
    startRegistry({ tls: true, auth: "token", password: 'd8:src"pw' }),
    startRegistry({ tls: true, auth: "basic", password: 'cust:dst"pw' }),
  ]);
  release = await seedRelease(source, "deckhouse/ee", { tagged: 2, digestOnly: 1, multiArch: 1, seed: "copy-run-e2e" });
  work = tempDir("copy-run-e2e");
  bundle = loadCopierBundle();
  kube.onCreate("Job", (job) => {
    const podName = `${job.metadata.name}-${Math.random().toString(36).slice(2, 7)}`;
    const uid = job.metadata.uid as string;
    kube.put({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: podName, namespace: job.metadata.namespace, labels: { "job-name": job.metadata.name, "controller-uid": uid } },
      spec: (job.spec as any).template.spec,
      status: { phase: "Running" },
    });
    runPod(job, podName);
  });
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all([kube?.stop(), source?.stop(), target?.stop()]);
  removeDir(work);
});

/** The cluster's deckhouse-registry Secret for the source registry, as Deckhouse writes it. */
function registrySecretData(): Record<string, string> {
  return {
    ".dockerconfigjson": b64(JSON.stringify({ auths: { [source.host]: { auth: b64(`${source.username}:${source.password}`) } } })),
    address: b64(source.host),
    path: b64("/deckhouse/ee"),
    scheme: b64("https"),
    ca: b64(source.caPem as string),
  };
}

function inputs(runId: string, targetPassword = target.password as string) {
  return {
    namespace: "d8-system",
    runId,
    timeoutMinutes: 5,
    manifests: buildCopyRunManifests({
      namespace: "d8-system",
      runId,
      copierImage: "node:20-bookworm-slim",
      deckhouseImage: release.deckhouseImage,
      concurrency: 4,
      target: { username: target.username, password: targetPassword, insecure: false, image: target.ref("customer/deckhouse:rock-solid-e2e"), ca: target.caPem },
      source: sourceRepoConfig(registrySecretData(), release.deckhouseImage),
      copierBundle: bundle,
    }),
    __provider: "serialized",
  };
}

async function provider(lines: string[]) {
  const p = makeCopyRunProvider({ log: (line) => lines.push(line), logPollMs: 100, rewatchDelayMs: 50 });
  await p.configure!({ config: { get: (k: string) => (k === "kubernetes:kubeconfig" ? kube.kubeconfigYaml : undefined), require: () => "" } });
  return p;
}

test("a run copies the whole release into the target, verified with skopeo, then cleans up", async () => {
  const lines: string[] = [];
  const p = await provider(lines);
  const result = await p.create!(inputs("e2e-1"));
  const outs = result.outs as CopyRunOutputs;
  expect(outs.status).toBe("succeeded");
  expect(outs.summary).toMatchObject({ images: release.references.length, failed: 0, target: target.ref("customer/deckhouse:rock-solid-e2e") });
  expect(outs.summary!.copied + outs.summary!.skipped).toBe(release.references.length);
  expect(lines).toContain(SUCCESS_MESSAGE);
  expect(lines.some((l) => l.startsWith("images-copier result: "))).toBe(true);
  const check = await verifyCopiedRelease(target, "customer/deckhouse", "customer/deckhouse:rock-solid-e2e", release);
  expect(check.problems).toEqual([]);
  for (const kind of ["Secret", "ConfigMap", "Pod"]) expect(kube.list("v1", kind, "d8-system")).toEqual([]);
  expect(kube.list("batch/v1", "Job", "d8-system")).toEqual([]);
});

test("a wrong target password fails the run with the copier's own error line; everything is kept", async () => {
  const lines: string[] = [];
  const p = await provider(lines);
  const error = (await p.create!(inputs("e2e-2", "wrong-password")).catch((e: unknown) => e)) as Error;
  expect(error.message.startsWith(FAILURE_MESSAGE)).toBe(true);
  expect(error.message).toMatch(/images-copier: error: .*/);
  expect(error.message).not.toContain("wrong-password");
  expect(error.message).not.toContain(source.password as string);
  expect(lines.join("\n")).not.toContain("wrong-password");
  expect(kube.list("batch/v1", "Job", "d8-system")).toHaveLength(1);
  expect(kube.list("v1", "Secret", "d8-system")).toHaveLength(1);
  await p.delete!("d8-system/copy-images/e2e-2", { ...(inputs("e2e-2") as unknown as CopyRunOutputs) });
  expect(kube.list("batch/v1", "Job", "d8-system")).toEqual([]);
  for (const kind of ["Secret", "ConfigMap", "Pod"]) expect(kube.list("v1", kind, "d8-system")).toEqual([]);
});
