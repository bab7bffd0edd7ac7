// The job controller and kubelet for the copy Job on the Kubernetes API test server (which runs no controllers):
// when a Job appears, a Pod is added and the Job's own command runs as a child process, with the volumes as temp
// directories (the Secret's listed items only, the ConfigMap's files, the release's image list for the init
// container), env from the Secret (secretKeyRef) and the pod's log fed from its output; the exit code sets the Job's
// Complete or Failed condition. The copier and the registries it talks to are real. With `pullImages`, a pod without
// the copier's ConfigMap gets its copier from its image, as a node would: pulled from the registry with the pod's
// imagePullSecrets (image-pull.ts) and unpacked; a failed pull leaves the container waiting in ErrImagePull.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pullImage } from "./image-pull";
import { podOfJob, type KubeApiServer, type KubeObject } from "./kube-api-server";

export interface CopyKubelet {
  /** How many copy Jobs it has started so far. */
  readonly started: number;
  /** The copier images pulled (with `pullImages`), and the registry hosts each pull had credentials for. */
  readonly pulls: Array<{ image: string; credentialHosts: string[] }>;
  /** Pulls that failed, with skopeo's reason. */
  readonly pullErrors: string[];
  /** Jobs that appeared while a Pod of an earlier Job of the same name was still there (e.g. shutting down). */
  readonly overlaps: number;
  /** The next Pod stays Running without starting its copier until the returned function is called; a Pod deleted
   *  meanwhile never starts it. */
  hold(): () => void;
  /** Kills any copier still running. */
  stop(): void;
}

const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

export interface CopyKubeletOptions {
  work: string;
  releaseImages: () => Record<string, Record<string, string>>;
  /** Pull the copier's image when the pod has no copier ConfigMap; `certDir`: the CAs the node trusts. */
  pullImages?: { certDir?: string };
}

export function startCopyKubelet(kube: KubeApiServer, opts: CopyKubeletOptions): CopyKubelet {
  const children = new Set<ChildProcess>();
  let started = 0;
  let overlaps = 0;
  let held: Promise<void> | undefined;
  const pulls: CopyKubelet["pulls"] = [];
  const pullErrors: string[] = [];

  /** The image's copier directory, pulled with the pod's imagePullSecrets; undefined when the pull failed. */
  async function pulledCopier(ns: string, podName: string, podSpec: any, dir: string): Promise<string | undefined> {
    const image = podSpec.containers[0].image as string;
    const dockerConfigs = (podSpec.imagePullSecrets ?? [])
      .map((ref: { name: string }) => (kube.get("v1", "Secret", ns, ref.name) as any)?.data?.[".dockerconfigjson"])
      .filter((data: unknown): data is string => typeof data === "string")
      .map(unb64);
    try {
      const pulled = await pullImage(image, dockerConfigs, { dir: join(dir, "image"), certDir: opts.pullImages?.certDir });
      pulls.push({ image, credentialHosts: pulled.credentialHosts });
      return join(pulled.rootfs, "opt", "images-copier");
    } catch (error) {
      const message = (error as Error).message;
      pullErrors.push(message);
      const pod = kube.get("v1", "Pod", ns, podName);
      if (pod) kube.put({ ...pod, status: { phase: "Pending", containerStatuses: [{ name: "copier", image, state: { waiting: { reason: "ErrImagePull", message } } }] } });
      return undefined;
    }
  }

  async function runPod(job: KubeObject, podName: string, gate?: Promise<void>): Promise<void> {
    const ns = job.metadata.namespace as string;
    if (gate) {
      await gate;
      const pod = kube.get("v1", "Pod", ns, podName);
      if (!pod || pod.metadata.deletionTimestamp) return;
    }
    const podSpec = (job.spec as any).template.spec;
    const dir = join(opts.work, podName);
    const mounts: Record<string, string> = { "/config": join(dir, "config"), "/opt/images-copier": join(dir, "opt"), "/images": join(dir, "images") };
    for (const path of Object.values(mounts)) mkdirSync(path, { recursive: true });
    const secretVolume = podSpec.volumes.find((v: any) => v.secret).secret;
    const secret = kube.get("v1", "Secret", ns, secretVolume.secretName) as any;
    for (const item of secretVolume.items as Array<{ key: string; path: string }>) writeFileSync(join(mounts["/config"], item.path), unb64(secret.data[item.key]), { mode: 0o400 });
    const bundleVolume = podSpec.volumes.find((v: any) => v.configMap);
    if (bundleVolume) {
      const configMap = kube.get("v1", "ConfigMap", ns, bundleVolume.configMap.name) as any;
      for (const [key, value] of Object.entries(configMap.data as Record<string, string>)) writeFileSync(join(mounts["/opt/images-copier"], key), value);
    } else if (opts.pullImages) {
      const copierDir = await pulledCopier(ns, podName, podSpec, dir);
      if (!copierDir) return;
      mounts["/opt/images-copier"] = copierDir;
    }
    if (podSpec.initContainers) writeFileSync(join(mounts["/images"], "images.json"), JSON.stringify(opts.releaseImages()));

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

  kube.onAdded("Job", (job) => {
    const ns = job.metadata.namespace as string;
    if (kube.list("v1", "Pod", ns).some((p) => p.metadata.labels?.["job-name"] === job.metadata.name && p.metadata.labels?.["controller-uid"] !== job.metadata.uid)) overlaps++;
    const pod = podOfJob(job);
    kube.put(pod);
    started++;
    const gate = held;
    held = undefined;
    void runPod(job, pod.metadata.name, gate);
  });

  return {
    get started() {
      return started;
    },
    get overlaps() {
      return overlaps;
    },
    hold() {
      let release = () => {};
      held = new Promise<void>((resolve) => (release = resolve));
      return () => release();
    },
    pulls,
    pullErrors,
    stop() {
      for (const child of children) child.kill("SIGKILL");
    },
  };
}
