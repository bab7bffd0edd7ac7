// Waits for a batch/v1 Job to finish: watches it (re-watching when the stream drops) and, meanwhile, relays the
// copier's lines from its pod's log. Real clusters and the loopback test server are reached the same way.
import type { z as Zod } from "zod";
import { apiPath, type KubeClient } from "../kube";

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
  /** How long a container may wait in a state that will not fix itself (ImagePullBackOff …) before the run fails. */
  stuckGraceMs?: number;
  /** Transient API errors (5xx, network) in a row before giving up. */
  maxTransientErrors?: number;
  /** How long the scheduler may fail to place the pod (PodScheduled False, Unschedulable) before the run fails. */
  unschedulableMs?: number;
  /** How to run it again, said after a pod was preempted or evicted (e.g. "change runId to run it again"). */
  retryHint?: string;
}

export type JobOutcome =
  | { kind: "succeeded"; podName?: string }
  /** `placement`: the pod could not be placed, or was preempted or evicted (the reason is one whole line). */
  | { kind: "failed"; podName?: string; reason: string; placement?: boolean }
  | { kind: "timeout"; podName?: string };

export const DEFAULT_STUCK_GRACE_MS = 5 * 60_000;
export const DEFAULT_UNSCHEDULABLE_MS = 5 * 60_000;

/** Built on demand: the waiter is closure-serialized into the dynamic provider, where zod is required at run time. */
function schemas() {
  const { z } = require("zod") as { z: typeof Zod };
  const condition = z.object({ type: z.string(), status: z.string(), reason: z.string().nullish(), message: z.string().nullish() });
  const job = z.object({
    metadata: z.object({ uid: z.string().nullish(), resourceVersion: z.string().nullish() }).nullish(),
    status: z.object({ conditions: z.array(condition).nullish(), succeeded: z.number().nullish(), failed: z.number().nullish() }).nullish(),
  });
  const waiting = z.object({ reason: z.string().nullish(), message: z.string().nullish() });
  const containerStatus = z.object({ name: z.string(), image: z.string().nullish(), state: z.object({ waiting: waiting.nullish() }).nullish() });
  const pod = z.object({
    metadata: z.object({
      name: z.string(),
      creationTimestamp: z.string().nullish(),
      labels: z.record(z.string(), z.string()).nullish(),
      ownerReferences: z.array(z.object({ uid: z.string().nullish() })).nullish(),
    }),
    spec: z.object({ containers: z.array(z.object({ name: z.string(), image: z.string().nullish() })).nullish(), initContainers: z.array(z.object({ name: z.string(), image: z.string().nullish() })).nullish() }).nullish(),
    status: z
      .object({
        phase: z.string().nullish(),
        reason: z.string().nullish(),
        message: z.string().nullish(),
        conditions: z.array(condition).nullish(),
        initContainerStatuses: z.array(containerStatus).nullish(),
        containerStatuses: z.array(containerStatus).nullish(),
      })
      .nullish(),
  });
  const watchType = z.enum(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);
  return { job, pod, watchType };
}
type Schemas = ReturnType<typeof schemas>;
type JobLike = Zod.infer<Schemas["job"]>;
type PodLike = Zod.infer<Schemas["pod"]>;

/** The API server answered with something that is not a Job / Pod: fail loudly instead of guessing success. */
function parseOr<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`images-copier: unexpected ${what} from the Kubernetes API: ${issue ? `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}` : "invalid"}`);
}

/** DisruptionTarget reasons (Kubernetes sets the condition before it deletes or stops the pod), in plain words. */
const DISRUPTIONS: Record<string, string> = {
  PreemptionByScheduler: "was preempted by the scheduler (a pod of higher priority took its place)",
  EvictionByEvictionAPI: "was evicted (Eviction API, e.g. a node drain)",
  TerminationByKubelet: "was evicted by the kubelet (node pressure or shutdown)",
  DeletionByTaintManager: "was evicted by a NoExecute taint of its node",
  DeletionByPodGC: "was removed by the pod garbage collector (its node is gone)",
};

/** What to set for a scheduler message: tolerations for taints, a node selector for affinity, priority for room. */
function placementHint(message: string): string {
  const hints: string[] = [];
  if (/taint/i.test(message)) hints.push("jobTolerations (to tolerate the taint)");
  if (/affinity|selector/i.test(message)) hints.push("jobNodeSelector (to match nodes that exist)");
  if (/insufficient|too many pods/i.test(message)) hints.push("jobPriorityClassName (or free room on a node)");
  return hints.length > 0 ? hints.join(" or ") : "jobTolerations or jobNodeSelector (where the pod may run), or jobPriorityClassName";
}

/** Waiting reasons that will not resolve on their own: a wrong image, no pull access, a missing Secret. */
const STUCK_WAITING = new Set(["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"]);
/** Waiting reasons worth telling the operator about while the Job seems to do nothing. */
const NOTEWORTHY_WAITING = new Set([...STUCK_WAITING, "CreateContainerError"]);

export function jobFinished(job: unknown): JobOutcome | undefined {
  if (job === undefined || job === null) return undefined;
  const conditions = parseOr(schemas().job, job, "Job").status?.conditions ?? [];
  const failed = conditions.find((c) => c.type === "Failed" && c.status === "True");
  if (failed) return { kind: "failed", reason: [failed.reason, failed.message].filter(Boolean).join(": ") || "Job failed" };
  if (conditions.some((c) => c.type === "Complete" && c.status === "True")) return { kind: "succeeded" };
  return undefined;
}

/** A 4xx other than 404/409/410/429 (e.g. RBAC's 401/403) will not fix itself by retrying. */
function permanentApiError(error: unknown): { statusCode: number; message: string } | undefined {
  const e = error as { name?: string; statusCode?: number; message?: string };
  if (e?.name !== "KubeApiError" || typeof e.statusCode !== "number") return undefined;
  if (e.statusCode < 400 || e.statusCode >= 500 || [404, 409, 410, 429].includes(e.statusCode)) return undefined;
  return { statusCode: e.statusCode, message: e.message ?? "" };
}

function apiRefusal(error: { statusCode: number; message: string }, what: string): Error {
  const hint = error.statusCode === 401 || error.statusCode === 403 ? " (check the credentials and RBAC of the Kubernetes account in use)" : "";
  return new Error(`images-copier: cannot ${what}: ${error.message}${hint}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Pods of the Job: by the `job-name` label, then narrowed to this Job's uid (labels or owner reference). */
export async function jobPods(kube: KubeClient, namespace: string, jobName: string, jobUid?: string): Promise<PodLike[]> {
  const list = await kube.list<unknown>(apiPath({ apiVersion: "v1", resource: "pods", namespace }), { labelSelector: `job-name=${jobName}` });
  const podSchema = schemas().pod;
  const items = list.items.map((item) => parseOr(podSchema, item, "Pod"));
  const mine = items.filter((pod) => {
    if (!jobUid) return true;
    const labels = pod.metadata.labels ?? {};
    const uid = labels["batch.kubernetes.io/controller-uid"] ?? labels["controller-uid"];
    return uid === jobUid || (pod.metadata.ownerReferences ?? []).some((o) => o.uid === jobUid);
  });
  return mine.sort((a, b) => (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? ""));
}

/** Follows the Job's pod: its log (polled with `sinceTime`, the overlapping second de-duplicated) and its
 *  containers' waiting states, which fail the run once one is stuck longer than the grace period. */
class PodWatcher {
  private lastTime: string;
  private seenAtLastSecond: Set<string>;
  private reportedWaiting: Set<string>;
  private stuckSince: Map<string, number>;
  private unschedulableSince: Map<string, number>;
  podName?: string;
  stuck?: string;
  /** The pod could not be placed, or was preempted or evicted: `stuck` is then the whole reason. */
  placement?: boolean;
  /** Set while a Job watch runs, so a stuck pod ends it at once. */
  onStuck: () => void;

  constructor(
    private readonly kube: KubeClient,
    private readonly opts: JobWaitOptions,
  ) {
    // Initialized here, not as class fields: Pulumi's closure serialization (this runs in a dynamic provider)
    // keeps a class's constructor and methods but drops its field initializers.
    this.lastTime = "";
    this.seenAtLastSecond = new Set();
    this.reportedWaiting = new Set();
    this.stuckSince = new Map();
    this.unschedulableSince = new Map();
    this.onStuck = () => {};
  }

  async poll(): Promise<void> {
    const pods = await jobPods(this.kube, this.opts.namespace, this.opts.jobName, this.opts.jobUid);
    const pod = pods[pods.length - 1];
    if (!pod) return;
    this.podName = pod.metadata.name;
    for (const each of pods) this.checkPlacement(each);
    this.checkWaiting(pod);
    if (this.opts.onLogLine && !this.unschedulableSince.has(pod.metadata.name)) await this.relayLog();
  }

  private fail(reason: string, placement: boolean): void {
    if (this.stuck) return;
    this.stuck = reason;
    this.placement = placement;
    this.onStuck();
  }

  /** A pod the scheduler cannot place (past the grace), or one preempted or evicted, ends the run at once. */
  private checkPlacement(pod: PodLike): void {
    const name = pod.metadata.name;
    const conditions = pod.status?.conditions ?? [];
    const retry = this.opts.retryHint ? `; ${this.opts.retryHint}` : "";
    const disruption = conditions.find((c) => c.type === "DisruptionTarget" && c.status === "True");
    if (disruption || pod.status?.reason === "Evicted" || pod.status?.reason === "Preempting") {
      const why = disruption?.reason ?? pod.status?.reason ?? "";
      const words = DISRUPTIONS[why] ?? (why === "Preempting" ? DISRUPTIONS.PreemptionByScheduler : "was evicted");
      const detail = disruption?.message ?? pod.status?.message;
      const priority = why === "PreemptionByScheduler" || why === "Preempting" ? " (a jobPriorityClassName of higher priority keeps it from being preempted)" : "";
      return this.fail(`pod ${name} ${words}${detail ? `: ${detail}` : ""}${priority}${retry}`, true);
    }
    const scheduled = conditions.find((c) => c.type === "PodScheduled");
    if (scheduled?.status !== "False" || scheduled.reason !== "Unschedulable") {
      this.unschedulableSince.delete(name);
      return;
    }
    const message = (scheduled.message ?? "").trim();
    const since = this.unschedulableSince.get(name) ?? Date.now();
    if (!this.unschedulableSince.has(name)) {
      this.unschedulableSince.set(name, since);
      this.opts.onLogLine?.(`images-copier: pod ${name} cannot be scheduled yet: ${message || "Unschedulable"}`);
    }
    const graceMs = this.opts.unschedulableMs ?? DEFAULT_UNSCHEDULABLE_MS;
    if (Date.now() - since >= graceMs) {
      const minutes = graceMs / 60_000;
      const waited = minutes >= 1 ? `${Math.round(minutes * 10) / 10} minute${minutes === 1 ? "" : "s"}` : `${graceMs / 1000}s`;
      this.fail(`pod ${name} could not be scheduled for ${waited} (unschedulableMinutes): ${message || "Unschedulable"}; set ${placementHint(message)}`, true);
    }
  }

  private checkWaiting(pod: PodLike): void {
    const specs = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    const stillStuck = new Set<string>();
    for (const status of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = status.state?.waiting;
      if (!waiting?.reason || !NOTEWORTHY_WAITING.has(waiting.reason)) continue;
      const detail = `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
      const note = `images-copier: pod ${pod.metadata.name}: container ${status.name} is waiting: ${detail}`;
      if (!this.reportedWaiting.has(note)) this.opts.onLogLine?.(note);
      this.reportedWaiting.add(note);
      if (!STUCK_WAITING.has(waiting.reason)) continue;

      const key = `${pod.metadata.name}/${status.name}`;
      stillStuck.add(key);
      const since = this.stuckSince.get(key) ?? Date.now();
      this.stuckSince.set(key, since);
      const graceMs = this.opts.stuckGraceMs ?? DEFAULT_STUCK_GRACE_MS;
      if (!this.stuck && Date.now() - since >= graceMs) {
        const image = specs.find((c) => c.name === status.name)?.image ?? status.image ?? "?";
        this.stuck = `pod ${pod.metadata.name}: container ${status.name} (image ${image}) has been waiting for ${Math.round(graceMs / 1000)}s: ${detail}`;
        this.onStuck();
      }
    }
    for (const key of [...this.stuckSince.keys()]) if (!stillStuck.has(key)) this.stuckSince.delete(key);
  }

  private async relayLog(): Promise<void> {
    const query: Record<string, string> = { timestamps: "true", container: "copier" };
    if (this.lastTime) query.sinceTime = `${this.lastTime.slice(0, 19)}Z`;
    const text = await this.kube.logs(this.opts.namespace, this.podName!, query);
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
      if (line.startsWith("images-copier")) this.opts.onLogLine!(line);
    }
  }
}

/** Resolves when the Job completes, fails, its pod is stuck past the grace period, or the timeout passes; watch
 *  drops are followed by a fresh GET and watch. Rejects when the API server refuses (401/403 …) or stays away. */
export async function waitForJob(kube: KubeClient, opts: JobWaitOptions): Promise<JobOutcome> {
  const deadline = Date.now() + opts.timeoutMs;
  const jobPath = apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace: opts.namespace, name: opts.jobName });
  const jobsPath = apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace: opts.namespace });
  const { job: jobSchema, watchType } = schemas();
  const pod = new PodWatcher(kube, opts);
  const withPod = (outcome: JobOutcome): JobOutcome => ({ ...outcome, podName: pod.podName });
  const stuckOutcome = (): JobOutcome =>
    pod.placement ? withPod({ kind: "failed", reason: pod.stuck!, placement: true }) : withPod({ kind: "failed", reason: `${pod.stuck}; the Job is kept for inspection` });
  /** A failed Job whose pod was preempted or evicted says so rather than "BackoffLimitExceeded". */
  const failedOutcome = async (done: JobOutcome): Promise<JobOutcome> => {
    if (done.kind !== "failed") return withPod(done);
    await pod.poll().catch(() => undefined);
    return pod.stuck && pod.placement ? stuckOutcome() : withPod(done);
  };
  const pause = () => sleep(Math.min(opts.rewatchDelayMs ?? 1000, Math.max(deadline - Date.now(), 0)));
  const maxTransient = opts.maxTransientErrors ?? 30;
  let transient = 0;
  const transientError = async (error: unknown, what: string) => {
    const permanent = permanentApiError(error);
    if (permanent) throw apiRefusal(permanent, what);
    if (++transient > maxTransient) throw new Error(`images-copier: cannot ${what}: ${(error as Error).message} (${maxTransient} attempts in a row failed)`);
    // back off (1 s … 30 s with the defaults: about a quarter of an hour of outage is ridden out)
    const delay = Math.min((opts.rewatchDelayMs ?? 1000) * 2 ** Math.min(transient - 1, 5), 30_000);
    await sleep(Math.min(delay, Math.max(deadline - Date.now(), 0)));
  };

  let stopPolling = false;
  let wakePoller = () => {};
  const polling = (async () => {
    while (!stopPolling && Date.now() < deadline && !pod.stuck) {
      await pod.poll().catch(() => undefined); // a missed poll only delays a progress line
      await new Promise<void>((resolve) => {
        if (stopPolling) return resolve(); // the wait ended while this poll ran: no pause before the last one
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
      if (pod.stuck) return stuckOutcome();
      let raw: unknown;
      try {
        raw = await kube.get<unknown>(jobPath);
      } catch (error) {
        await transientError(error, `read Job ${opts.namespace}/${opts.jobName}`);
        continue; // API server unreachable for a moment: bounded in count and by the deadline
      }
      transient = 0;
      if (raw === undefined) return withPod({ kind: "failed", reason: `Job ${opts.namespace}/${opts.jobName} disappeared while running` });
      const job: JobLike = parseOr(jobSchema, raw, "Job");
      if (job.metadata?.uid && opts.jobUid && job.metadata.uid !== opts.jobUid) {
        return withPod({ kind: "failed", reason: `Job ${opts.namespace}/${opts.jobName} was replaced by another one while running` });
      }
      const done = jobFinished(job);
      if (done) return failedOutcome(done);

      const abort = new AbortController();
      const remainingMs = deadline - Date.now();
      const timer = setTimeout(() => abort.abort(), Math.max(remainingMs, 0));
      pod.onStuck = () => abort.abort();
      let finished: JobOutcome | undefined;
      let watchError: unknown;
      try {
        await kube.watch(
          jobsPath,
          {
            fieldSelector: `metadata.name=${opts.jobName}`,
            timeoutSeconds: String(Math.max(1, Math.min(300, Math.ceil(remainingMs / 1000)))),
            ...(job.metadata?.resourceVersion ? { resourceVersion: job.metadata.resourceVersion } : {}),
          },
          (type, object) => {
            const kind = watchType.safeParse(type);
            if (!kind.success || kind.data === "BOOKMARK") return;
            // ERROR carries a Status (e.g. 410 Gone: resourceVersion too old): start over with a fresh GET
            if (kind.data === "ERROR") return abort.abort();
            finished = kind.data === "DELETED" ? { kind: "failed", reason: `Job ${opts.namespace}/${opts.jobName} was deleted while running` } : jobFinished(object);
            if (finished) abort.abort();
          },
          abort.signal,
        );
      } catch (error) {
        if (!abort.signal.aborted) watchError = error; // else aborted by us: look again below
      } finally {
        clearTimeout(timer);
        pod.onStuck = () => {};
      }
      if (finished) return failedOutcome(finished);
      if (pod.stuck) return stuckOutcome();
      if (watchError !== undefined) await transientError(watchError, `watch Job ${opts.namespace}/${opts.jobName}`);
      else if (Date.now() < deadline) await pause();
    }
    return withPod({ kind: "timeout" });
  } finally {
    stopPolling = true;
    wakePoller();
    await polling;
    await pod.poll().catch(() => undefined);
  }
}
