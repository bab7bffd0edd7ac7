// The kubelet's part for Jobs created on the Kubernetes API test server (which runs no controllers): for each new
// Job, a Pod is stored and the Job's container command runs here as a child process, with every Secret and
// ConfigMap volume written to a temp dir standing in for its mountPath; its output becomes the pod's log and its
// exit status the Job's condition. Only the first container runs; init containers are not run.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeApiServer, KubeObject } from "./kube-api-server";

export interface JobKubelet {
  /** Pods whose pull never succeeds: they wait in this state (e.g. ImagePullBackOff) and nothing runs. */
  failPulls(reason: string | undefined): void;
  stop(): void;
}

interface Volume {
  name: string;
  secret?: { secretName: string };
  configMap?: { name: string };
}

export function playJobs(server: KubeApiServer, workDir: string): JobKubelet {
  const children = new Set<ChildProcess>();
  let pullFailure: string | undefined;

  function run(job: KubeObject, podName: string): void {
    const namespace = job.metadata.namespace as string;
    const podSpec = (job.spec as any).template.spec;
    const container = podSpec.containers[0];
    const mounts: Record<string, string> = {};
    for (const mount of container.volumeMounts ?? []) {
      const volume = (podSpec.volumes as Volume[]).find((v) => v.name === mount.name);
      const dir = join(workDir, podName, mount.name);
      mkdirSync(dir, { recursive: true });
      mounts[mount.mountPath] = dir;
      const source = volume?.secret
        ? (server.get("v1", "Secret", namespace, volume.secret.secretName) as any)?.data
        : volume?.configMap
          ? (server.get("v1", "ConfigMap", namespace, volume.configMap.name) as any)?.data
          : undefined;
      for (const [key, value] of Object.entries((source ?? {}) as Record<string, string>)) {
        writeFileSync(join(dir, key), volume?.secret ? Buffer.from(value, "base64") : value, { mode: 0o600 });
      }
    }
    const [command, ...args] = (container.command as string[]).map((arg) => {
      for (const [from, to] of Object.entries(mounts)) if (arg === from || arg.startsWith(`${from}/`)) return to + arg.slice(from.length);
      return arg;
    });
    const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
    for (const e of container.env ?? []) if (typeof e.value === "string") env[e.name] = e.name === "HOME" ? workDir : e.value;
    const child = spawn(command === "node" ? process.execPath : command, args, { stdio: ["ignore", "pipe", "pipe"], env });
    children.add(child);
    const relay = (chunk: Buffer) => server.appendPodLog(namespace, podName, chunk.toString("utf8"));
    child.stdout?.on("data", relay);
    child.stderr?.on("data", relay);
    child.on("close", (code) => {
      children.delete(child);
      const current = server.get("batch/v1", "Job", namespace, job.metadata.name);
      if (!current) return;
      const condition = code === 0 ? { type: "Complete", status: "True" } : { type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" };
      server.put({ ...current, status: { ...(code === 0 ? { succeeded: 1 } : { failed: 1 }), conditions: [condition] } });
    });
  }

  server.onCreate("Job", (job) => {
    const podName = `${job.metadata.name}-${Math.random().toString(36).slice(2, 7)}`;
    const container = (job.spec as any).template.spec.containers[0];
    const waiting = pullFailure ? { containerStatuses: [{ name: container.name, image: container.image, state: { waiting: { reason: pullFailure, message: "pull access denied" } } }] } : {};
    server.put({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: podName, namespace: job.metadata.namespace, labels: { "job-name": job.metadata.name, "controller-uid": job.metadata.uid as string } },
      spec: (job.spec as any).template.spec,
      status: { phase: pullFailure ? "Pending" : "Running", ...waiting },
    });
    if (!pullFailure) run(job, podName);
  });

  return {
    failPulls(reason) {
      pullFailure = reason;
    },
    stop() {
      for (const child of children) child.kill("SIGKILL");
    },
  };
}
