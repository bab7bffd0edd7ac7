// The copy run end to end with real parts: the test plays the Kubernetes provider (it creates the Secret, the
// ConfigMap with the real bundled copier and the Job the program declares) on the loopback Kubernetes API test
// server, and the kubelet: it runs the Job's own command (the bundle from the ConfigMap, the Secret's files as
// /config, env from the Secret) between two real registries on 127.0.0.1. CopyRun waits, relays and cleans up.
// The API server is a simulation, not a cluster; the registries and the copier are real, checked with skopeo.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { imagesListDigest } from "../../copier";
import { loadCopierBundle } from "../../components/copy/copier-bundle";
import { FAILURE_MESSAGE, makeCopyRunProvider, SUCCESS_MESSAGE, type CopyRunOutputs } from "../../components/copy/run-provider";
import { sourceRepoConfig } from "../../components/copy/registry-credentials";
import { countLoggedRequests, removeDir, tempDir, verifyCopiedRelease } from "../helpers/copy-fixture";
import { applyCopyRunObjects } from "../helpers/copy-run-objects";
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

/** The kubelet's part: mounts become temp dirs (the Secret's listed items only), env from the Secret, the command as is. */
function runPod(job: KubeObject, podName: string): void {
  const ns = job.metadata.namespace as string;
  const podSpec = (job.spec as any).template.spec;
  const dir = join(work, podName);
  const mounts: Record<string, string> = { "/config": join(dir, "config"), "/opt/images-copier": join(dir, "opt"), "/images": join(dir, "images") };
  for (const path of Object.values(mounts)) mkdirSync(path, { recursive: true });
  const secretVolume = podSpec.volumes.find((v: any) => v.secret).secret;
  const secret = kube.get("v1", "Secret", ns, secretVolume.secretName) as any;
  for (const item of secretVolume.items as Array<{ key: string; path: string }>) writeFileSync(join(mounts["/config"], item.path), unb64(secret.data[item.key]), { mode: 0o400 });
  const configMap = kube.get("v1", "ConfigMap", ns, podSpec.volumes.find((v: any) => v.configMap).configMap.name) as any;
  for (const [key, value] of Object.entries(configMap.data as Record<string, string>)) writeFileSync(join(mounts["/opt/images-copier"], key), value);
  if (podSpec.initContainers) writeFileSync(join(mounts["/images"], "images.json"), JSON.stringify(release.images));

  const container = podSpec.containers[0];
  const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    env[variable.name] = ref ? unb64((kube.get("v1", "Secret", ns, ref.name) as any).data[ref.key]) : variable.value;
  }
  env.HOME = dir;
  const [command, ...args] = container.command.map((arg: string) => {
    for (const [from, to] of Object.entries(mounts)) if (arg === from || arg.startsWith(`${from}/`)) return to + arg.slice(from.length);
    return arg;
  });
  const child = spawn(command === "node" ? process.execPath : command, args, { stdio: ["ignore", "pipe", "pipe"], env });
  children.add(child);
  const relay = (chunk: Buffer) => kube.appendPodLog(ns, podName, chunk.toString("utf8"));
  child.stdout?.on("data", relay);
  child.stderr?.on("data", relay);
  child.on("close", (code) => {
    children.delete(child);
    const current = kube.get("batch/v1", "Job", ns, job.metadata.name);
    if (!current || current.metadata.uid !== job.metadata.uid) return;
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

/** What `pulumi up` creates before CopyRun starts: the Secret, the ConfigMap with the real bundle, the Job. */
function applyRun(runId: string, targetPassword = target.password as string) {
  return applyCopyRunObjects(kube.kubeconfigYaml, {
    runId,
    target: { username: target.username, password: targetPassword, insecure: false, image: target.ref("customer/deckhouse:rock-solid-e2e"), ca: target.caPem },
    source: sourceRepoConfig(registrySecretData(), release.deckhouseImage),
    copierBundle: bundle,
  });
}

async function provider(lines: string[]) {
  const p = makeCopyRunProvider({ log: (line) => lines.push(line), logPollMs: 100, rewatchDelayMs: 50 });
  await p.configure!({ config: { get: (k: string) => (k === "kubernetes:kubeconfig" ? kube.kubeconfigYaml : undefined), require: () => "" } });
  return p;
}

const leftovers = () => [...["Secret", "ConfigMap", "Pod"].flatMap((kind) => kube.list("v1", kind, "d8-system")), ...kube.list("batch/v1", "Job", "d8-system")].map((o) => `${o.kind}/${o.metadata.name}`);

test("a run copies the whole release into the target, verified with skopeo, records the digests, then cleans up", async () => {
  const lines: string[] = [];
  const p = await provider(lines);
  const outs = (await p.create!(await applyRun("e2e-1"))).outs as CopyRunOutputs;
  expect(outs.status).toBe("succeeded");
  expect(outs.summary).toMatchObject({ images: release.references.length, failed: 0, target: target.ref("customer/deckhouse:rock-solid-e2e"), verificationOnly: false });
  expect(outs.summary!.copied + outs.summary!.skipped).toBe(release.references.length);
  // what the switch stack ties itself to: the release that ran, as the source registry resolved it, and the list
  expect(outs.summary).toMatchObject({ source: release.deckhouseImage, sourceDigest: release.deckhouseDigest, imagesDigest: imagesListDigest(release.images) });
  expect(lines).toContain(SUCCESS_MESSAGE);
  expect(lines.some((l) => l.startsWith("images-copier result: "))).toBe(true);
  const check = await verifyCopiedRelease(target, "customer/deckhouse", "customer/deckhouse:rock-solid-e2e", release);
  expect(check.problems).toEqual([]);
  expect(leftovers()).toEqual([]);
});

test("the objects recreated for the same release (pulumi refresh, then up): a verification run that copies nothing and says so", async () => {
  const lines: string[] = [];
  const p = await provider(lines);
  const writes = () => countLoggedRequests(target, /^(PUT|POST|PATCH|DELETE)$/);
  const writesBefore = writes();
  const outs = (await p.create!(await applyRun("e2e-1"))).outs as CopyRunOutputs;
  expect(writes()).toBe(writesBefore); // nothing at all was written to the target
  expect(outs.summary).toMatchObject({ images: release.references.length, copied: 0, skipped: release.references.length, bytes: 0, verificationOnly: true, sourceDigest: release.deckhouseDigest });
  expect(lines).toContain(`images-copier: verification run: all ${release.references.length} images were already in the target with the source's digests; nothing was copied`);
  expect((await verifyCopiedRelease(target, "customer/deckhouse", "customer/deckhouse:rock-solid-e2e", release)).problems).toEqual([]);
  expect(leftovers()).toEqual([]);
});

test("a wrong target password fails the run with the copier's own error line; everything is kept until destroy", async () => {
  const lines: string[] = [];
  const p = await provider(lines);
  const inputs = await applyRun("e2e-2", "wrong-password");
  const error = (await p.create!(inputs).catch((e: unknown) => e)) as Error & { properties?: CopyRunOutputs };
  expect(error.message.startsWith(FAILURE_MESSAGE)).toBe(true);
  expect(error.message).toMatch(/images-copier: error: .*/);
  expect(error.message).not.toContain("wrong-password");
  expect(error.message).not.toContain(source.password as string);
  expect(lines.join("\n")).not.toContain("wrong-password");
  expect(leftovers().map((o) => o.split("/")[0]).sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
  // destroy: CopyRun's delete takes the Job (Pods first); the Secret and ConfigMap go with their own resources
  await p.delete!("d8-system/copy-images/e2e-2", error.properties!);
  expect(leftovers().map((o) => o.split("/")[0]).sort()).toEqual(["ConfigMap", "Secret"]);
});
