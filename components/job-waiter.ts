// Waits for a batch/v1 Job to finish: watches it (re-watching when the stream drops) and, meanwhile, relays the
// copier's lines from its pod's log. Real clusters and the loopback test server are reached the same way.
import { apiPath, type KubeClient } from "./kube";

export interface JobWaitOptions {
  namespace: string;
  jobName: string;
  /** The Job's uid, so pods of an older Job with the same name are never read. */
  jobUid?: string;
  timeoutMs: number;
  /** Lines from the pod's log worth showing (the copier's progress, result and error lines). */
  onLogLine?: (line: string) => void;
  logPollMs?: number;
  /** Pause before re-watching after the watch stream dropped. */
  rewatchDelayMs?: number;
}

export type JobOutcome =
  | { kind: "succeeded"; podName?: string }
  | { kind: "failed"; podName?: string; reason: string }
  | { kind: "timeout"; podName?: string };

interface JobCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}
interface JobLike {
  metadata?: { uid?: string; resourceVersion?: string };
  status?: { conditions?: JobCondition[]; succeeded?: number; failed?: number };
}
interface ContainerStatusLike {
  name?: string;
  state?: { waiting?: { reason?: string; message?: string } };
}
interface PodLike {
  metadata: { name: string; creationTimestamp?: string; labels?: Record<string, string>; ownerReferences?: Array<{ uid?: string }> };
  status?: { initContainerStatuses?: ContainerStatusLike[]; containerStatuses?: ContainerStatusLike[] };
}

/** Waiting reasons worth telling the operator about while the Job seems to do nothing. */
const NOTEWORTHY_WAITING = new Set(["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"]);

export function jobFinished(job: JobLike | undefined): JobOutcome | undefined {
  const conditions = job?.status?.conditions ?? [];
  const failed = conditions.find((c) => c.type === "Failed" && c.status === "True");
  if (failed) return { kind: "failed", reason: [failed.reason, failed.message].filter(Boolean).join(": ") || "Job failed" };
  if (conditions.some((c) => c.type === "Complete" && c.status === "True")) return { kind: "succeeded" };
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Pods of the Job: by the `job-name` label, then narrowed to this Job's uid (labels or owner reference). */
export async function jobPods(kube: KubeClient, namespace: string, jobName: string, jobUid?: string): Promise<PodLike[]> {
  const { items } = await kube.list<PodLike>(apiPath({ apiVersion: "v1", resource: "pods", namespace }), { labelSelector: `job-name=${jobName}` });
  const mine = items.filter((pod) => {
    if (!jobUid) return true;
    const labels = pod.metadata.labels ?? {};
    const uid = labels["batch.kubernetes.io/controller-uid"] ?? labels["controller-uid"];
    return uid === jobUid || (pod.metadata.ownerReferences ?? []).some((o) => o.uid === jobUid);
  });
  return mine.sort((a, b) => (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? ""));
}

/** Follows one pod's log by polling with `sinceTime` and de-duplicating the overlapping second. */
class LogRelay {
  private lastTime = "";
  private seenAtLastSecond = new Set<string>();
  private reportedWaiting = new Set<string>();
  podName?: string;

  constructor(
    private readonly kube: KubeClient,
    private readonly opts: JobWaitOptions,
  ) {}

  async poll(): Promise<void> {
    if (!this.opts.onLogLine) return;
    const pods = await jobPods(this.kube, this.opts.namespace, this.opts.jobName, this.opts.jobUid);
    const pod = pods[pods.length - 1];
    if (!pod) return;
    this.podName = pod.metadata.name;
    for (const status of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = status.state?.waiting;
      if (!waiting?.reason || !NOTEWORTHY_WAITING.has(waiting.reason)) continue;
      const note = `images-copier: pod ${pod.metadata.name}: container ${status.name} is waiting: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
      if (!this.reportedWaiting.has(note)) this.opts.onLogLine(note);
      this.reportedWaiting.add(note);
    }
    const query: Record<string, string> = { timestamps: "true", container: "copier" };
    if (this.lastTime) query.sinceTime = `${this.lastTime.slice(0, 19)}Z`;
    const text = await this.kube.logs(this.opts.namespace, this.podName, query);
    for (const raw of text.split("\n")) {
      if (!raw) continue;
      const space = raw.indexOf(" ");
      const time = space > 0 ? raw.slice(0, space) : "";
      const line = space > 0 ? raw.slice(space + 1) : raw;
      const second = time.slice(0, 19);
      if (this.lastTime && second < this.lastTime.slice(0, 19)) continue;
      if (second === this.lastTime.slice(0, 19) && this.seenAtLastSecond.has(raw)) continue;
      if (second !== this.lastTime.slice(0, 19)) this.seenAtLastSecond = new Set();
      this.seenAtLastSecond.add(raw);
      this.lastTime = time;
      if (line.startsWith("images-copier")) this.opts.onLogLine(line);
    }
  }
}

/** Resolves when the Job completes, fails or the timeout passes; watch drops are followed by a fresh GET and watch. */
export async function waitForJob(kube: KubeClient, opts: JobWaitOptions): Promise<JobOutcome> {
  const deadline = Date.now() + opts.timeoutMs;
  const jobPath = apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace: opts.namespace, name: opts.jobName });
  const jobsPath = apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace: opts.namespace });
  const relay = new LogRelay(kube, opts);
  const withPod = (outcome: JobOutcome): JobOutcome => ({ ...outcome, podName: relay.podName });

  let stopPolling = false;
  let wakePoller = () => {};
  const polling = (async () => {
    while (!stopPolling && Date.now() < deadline) {
      await relay.poll().catch(() => undefined); // a missed poll only delays a progress line
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.logPollMs ?? 3000);
        wakePoller = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();

  try {
    while (Date.now() < deadline) {
      let job: JobLike | undefined;
      try {
        job = await kube.get<JobLike>(jobPath);
      } catch {
        await sleep(Math.min(opts.rewatchDelayMs ?? 1000, Math.max(deadline - Date.now(), 0)));
        continue; // API server unreachable for a moment: bounded by the deadline
      }
      if (job === undefined) return withPod({ kind: "failed", reason: `Job ${opts.namespace}/${opts.jobName} disappeared while running` });
      if (job?.metadata?.uid && opts.jobUid && job.metadata.uid !== opts.jobUid) {
        return withPod({ kind: "failed", reason: `Job ${opts.namespace}/${opts.jobName} was replaced by another one while running` });
      }
      const done = jobFinished(job);
      if (done) return withPod(done);

      const abort = new AbortController();
      const remainingMs = deadline - Date.now();
      const timer = setTimeout(() => abort.abort(), Math.max(remainingMs, 0));
      let finished: JobOutcome | undefined;
      try {
        await kube.watch(
          jobsPath,
          {
            fieldSelector: `metadata.name=${opts.jobName}`,
            timeoutSeconds: String(Math.max(1, Math.min(300, Math.ceil(remainingMs / 1000)))),
            ...(job?.metadata?.resourceVersion ? { resourceVersion: job.metadata.resourceVersion } : {}),
          },
          (type, object) => {
            finished = type === "DELETED" ? { kind: "failed", reason: `Job ${opts.namespace}/${opts.jobName} was deleted while running` } : jobFinished(object);
            if (finished) abort.abort();
          },
          abort.signal,
        );
      } catch {
        // aborted by us, or the stream dropped: look again below
      } finally {
        clearTimeout(timer);
      }
      if (finished) return withPod(finished);
      if (Date.now() < deadline) await sleep(Math.min(opts.rewatchDelayMs ?? 1000, Math.max(deadline - Date.now(), 0)));
    }
    return withPod({ kind: "timeout" });
  } finally {
    stopPolling = true;
    wakePoller();
    await polling;
    await relay.poll().catch(() => undefined);
  }
}
