// The job controller and kubelet for the copy Job on the Kubernetes API test server (which runs no controllers):
// when a Job appears, a Pod is added and its containers' own commands run as child processes, as the users their
// securityContext names (runAsUser/runAsGroup; the suite runs as root), with the volumes as temp directories: the
// Secret's listed items only and the ConfigMap's files, written with the pod spec's modes and fsGroup ownership as
// the kubelet writes them, emptyDirs for /tmp and /images; the init container's `sh -c` script runs against a
// directory laid out like the Deckhouse image (/deckhouse/modules/images_digests.json, or only images_tags.json for
// an older release). Env comes from the Secret (secretKeyRef); the pod's log is fed from the output; the exit code
// sets the Job's Complete or Failed condition. The copier and the registries it talks to are real. With `pullImages`, a pod without
// the copier's ConfigMap gets its copier from its image, as a node would: pulled from the registry with the pod's
// imagePullSecrets (image-pull.ts) and unpacked; a failed pull leaves the container waiting in ErrImagePull.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
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

/**
 * A Secret or ConfigMap volume as the kubelet writes it: each file with its item's mode (else the volume's
 * defaultMode, else 0644), owned by root; with the pod's fsGroup, group-owned by it and made group-readable (the
 * kubelet's SetVolumeOwnership for read-only volumes), so a user in that group can read a 0400 file.
 */
function writeVolume(dir: string, files: Array<{ path: string; content: string; mode?: number }>, fsGroup: number | undefined): void {
  chmodSync(dir, 0o755);
  if (fsGroup !== undefined) chownSync(dir, 0, fsGroup);
  for (const file of files) {
    const path = join(dir, file.path);
    writeFileSync(path, file.content);
    chownSync(path, 0, fsGroup ?? 0);
    chmodSync(path, (file.mode ?? 0o644) | (fsGroup !== undefined ? 0o440 : 0));
  }
}

export interface CopyKubeletOptions {
  work: string;
  releaseImages: () => Record<string, Record<string, string>>;
  /** The list file the Deckhouse image carries: `images_digests.json` (default) or only `images_tags.json` (older
   *  releases); the init container's own script finds it. */
  releaseListFile?: () => "images_digests.json" | "images_tags.json";
  /** Pull the copier's image when the pod has no copier ConfigMap; `certDir`: the CAs the node trusts. */
  pullImages?: { certDir?: string };
}

export function startCopyKubelet(kube: KubeApiServer, opts: CopyKubeletOptions): CopyKubelet {
  chmodSync(opts.work, 0o755); // the containers run as their own users: the pod directories must be reachable
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

  function failJob(ns: string, job: KubeObject, reason: string, message: string): void {
    const current = kube.get("batch/v1", "Job", ns, job.metadata.name);
    if (!current || current.metadata.uid !== job.metadata.uid) return;
    kube.put({ ...current, status: { failed: 1, conditions: [{ type: "Failed", status: "True", reason, message }] } });
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
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    // emptyDirs are world-writable; volumes from Secrets and ConfigMaps are written as the kubelet writes them
    const mounts: Record<string, string> = { "/config": join(dir, "config"), "/opt/images-copier": join(dir, "opt"), "/images": join(dir, "images"), "/tmp": join(dir, "tmp") };
    for (const path of Object.values(mounts)) mkdirSync(path, { recursive: true });
    for (const path of [mounts["/images"], mounts["/tmp"]]) chmodSync(path, 0o777);
    const fsGroup: number | undefined = podSpec.securityContext?.fsGroup;
    const secretVolume = podSpec.volumes.find((v: any) => v.secret).secret;
    const secret = kube.get("v1", "Secret", ns, secretVolume.secretName) as any;
    writeVolume(mounts["/config"], (secretVolume.items as Array<{ key: string; path: string; mode?: number }>).map((item) => ({ path: item.path, content: unb64(secret.data[item.key]), mode: item.mode ?? secretVolume.defaultMode })), fsGroup);
    const bundleVolume = podSpec.volumes.find((v: any) => v.configMap);
    if (bundleVolume) {
      const configMap = kube.get("v1", "ConfigMap", ns, bundleVolume.configMap.name) as any;
      writeVolume(mounts["/opt/images-copier"], Object.entries(configMap.data as Record<string, string>).map(([path, content]) => ({ path, content, mode: bundleVolume.configMap.defaultMode })), fsGroup);
    } else if (opts.pullImages) {
      const copierDir = await pulledCopier(ns, podName, podSpec, dir);
      if (!copierDir) return;
      mounts["/opt/images-copier"] = copierDir;
    }

    // the init containers run their own commands, inside a directory laid out like the Deckhouse image
    for (const init of podSpec.initContainers ?? []) {
      const rootfs = deckhouseImageRoot(join(dir, "deckhouse-image"));
      const result = await runContainer(ns, podName, podSpec, init, { ...mounts, "/deckhouse": join(rootfs, "deckhouse") });
      if (result !== 0) {
        failJob(ns, job, "BackoffLimitExceeded", `init container ${init.name} exited with ${result}`);
        return;
      }
    }
    const code = await runContainer(ns, podName, podSpec, podSpec.containers[0], mounts);
    const current = kube.get("batch/v1", "Job", ns, job.metadata.name);
    if (!current || current.metadata.uid !== job.metadata.uid) return;
    if (code === 0) kube.put({ ...current, status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] } });
    else failJob(ns, job, "BackoffLimitExceeded", "Job has reached the specified backoff limit");
  }

  /** `/deckhouse/modules/images_digests.json` (or only `images_tags.json`, an older release) with the release's list. */
  function deckhouseImageRoot(root: string): string {
    const modules = join(root, "deckhouse", "modules");
    mkdirSync(modules, { recursive: true, mode: 0o755 });
    const file = (opts.releaseListFile?.() ?? "images_digests.json") as string;
    writeFileSync(join(modules, file), JSON.stringify(opts.releaseImages()), { mode: 0o644 });
    return root;
  }

  /** Runs a container's command as its user (runAsUser/runAsGroup), its paths mapped onto the pod's directories. */
  function runContainer(ns: string, podName: string, podSpec: any, container: any, mounts: Record<string, string>): Promise<number | null> {
    const mapPath = (value: string) => {
      for (const [from, to] of Object.entries(mounts)) if (value === from || value.startsWith(`${from}/`)) return to + value.slice(from.length);
      return value;
    };
    // inside a shell script: every absolute path that starts at a mount
    const mapScript = (script: string) => script.replace(/(^|[\s;|&<>=])(\/[^\s;|&<>]*)/g, (_m, before: string, path: string) => before + mapPath(path));
    const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
    for (const variable of container.env ?? []) {
      const ref = variable.valueFrom?.secretKeyRef;
      env[variable.name] = ref ? unb64((kube.get("v1", "Secret", ns, ref.name) as any).data[ref.key]) : typeof variable.value === "string" ? mapPath(variable.value) : "";
    }
    env.HOME ??= mounts["/tmp"];
    const argv = [...(container.command ?? []), ...(container.args ?? [])] as string[];
    const [command, ...args] = argv[0] === "sh" && argv[1] === "-c" ? ["sh", "-c", mapScript(argv[2]), ...argv.slice(3)] : argv.map(mapPath);
    const uid = container.securityContext?.runAsUser ?? podSpec.securityContext?.runAsUser;
    const gid = container.securityContext?.runAsGroup ?? podSpec.securityContext?.runAsGroup;
    const fsGroup = podSpec.securityContext?.fsGroup;
    // spawn sets one group: a pod whose fsGroup differs from its runAsGroup would need supplementary groups
    if (fsGroup !== undefined && gid !== undefined && fsGroup !== gid) throw new Error(`copy-kubelet: fsGroup ${fsGroup} other than runAsGroup ${gid} is not modelled`);
    const child = spawn(command === "node" ? process.execPath : command, args, { stdio: ["ignore", "pipe", "pipe"], env, cwd: mounts["/tmp"], ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) });
    children.add(child);
    const relay = (chunk: Buffer) => kube.appendPodLog(ns, podName, chunk.toString("utf8"));
    child.stdout?.on("data", relay);
    child.stderr?.on("data", relay);
    return new Promise((resolve) => {
      child.on("error", (error) => {
        relay(Buffer.from(`copy-kubelet: ${error.message}\n`));
        resolve(127);
      });
      child.on("close", (code) => {
        children.delete(child);
        resolve(code);
      });
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
