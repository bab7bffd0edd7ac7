// The dynamic provider that owns the wait for one copy run. The Secret, the copier's ConfigMap, the image pull
// Secret and the Job are declared resources; create() waits for that Job (by uid), relays the copier's progress,
// and on success deletes the Job (with its Pods), the Secret, the ConfigMap and the pull Secret and records what was
// copied; on failure it keeps them and fails with the original hook's message, the Job's reason and the log tail. read() keeps the recorded outcome (a
// finished run is a historical fact: `pulumi refresh` never starts a copy). delete() removes the run's Job and waits
// until its name is free, so a replacement Job of the same name can be created right after.
// Closure-serialized by Pulumi: npm packages are required inside functions; no input holds a credential; cluster
// access comes from `configure`: the current stack config in `pulumi up`; in `pulumi destroy`/`refresh` without
// `--run-program`, the config the engine stored with the last `up` as the dynamic providers' default provider.
import type * as pulumi from "@pulumi/pulumi";
import { formatBytes, parseResultLine, type ResultSummary } from "../../copier";
import { jobPods, waitForJob } from "../copier-job/job-waiter";
import { apiPath, configuredAccess, connectKube, type KubeAccess, type KubeClient } from "../kube";
import { deleteOwn } from "../kube/delete-own";

export const SUCCESS_MESSAGE = "Image copier ran successfully. Cleanup";
export const FAILURE_MESSAGE = "Image copier was failed. See logs into image copier job pod for additional information";

export interface CopyRunInputs {
  namespace: string;
  runId: string;
  timeoutMinutes: number;
  jobName: string;
  /** The uids of the run's objects: the wait follows exactly this Job, cleanup deletes exactly these objects. */
  jobUid: string;
  secretName: string;
  secretUid: string;
  /** Absent when the copier image brings its own copier. */
  configMapName?: string;
  configMapUid?: string;
  /** Absent unless the copier image is pulled from the target registry with the run's own pull Secret. */
  pullSecretName?: string;
  pullSecretUid?: string;
  /** The deckhouse container's image as the program read it; the copier's result line must name the same. */
  sourceImage: string;
  /** A pod the scheduler cannot place for this long fails the run (5 when absent: records made before it existed). */
  unschedulableMinutes?: number;
}

export interface CopySummary {
  images: number;
  copied: number;
  skipped: number;
  failed: number;
  bytes: number;
  bytesHuman: string;
  durationMs: number;
  durationSeconds: number;
  target: string;
  source: string;
  /** The manifest digest `source` resolved to in the source registry during the run. */
  sourceDigest: string;
  /** imagesListDigest of the list that was copied. */
  imagesDigest: string;
  /** Nothing had to be copied: every image was already in the target with the source's digest. */
  verificationOnly: boolean;
  /** Counts per plan group, and how each module ended (copier result line). */
  groups?: ResultSummary["groups"];
  modules?: ResultSummary["modules"];
  /** `<target repo>:<original tag>`: the Deckhouse image is in the target under its source tag too. */
  originalTag?: string;
}

export interface CopyRunOutputs extends CopyRunInputs {
  status: "succeeded" | "failed" | "timeout";
  message: string;
  finishedAt: string;
  summary?: CopySummary;
}

export interface CopyRunProviderOptions {
  log?: (line: string) => void;
  logPollMs?: number;
  rewatchDelayMs?: number;
  /** Minutes are the unit of `timeoutMinutes`; tests shrink it. */
  msPerMinute?: number;
  /** How long a pod may sit in ImagePullBackOff and the like before the run fails (default 5 minutes). */
  stuckGraceMs?: number;
  /** How long cleanup waits for a deleted Job to be gone (default 2 minutes). */
  jobGoneTimeoutMs?: number;
}

/**
 * An error the engine records as "created but failed to initialize": the state keeps the failed run. A plain Error
 * with properties, not a subclass: closure serialization would turn a subclass into a function whose instances
 * carry no message.
 */
/**
 * A run that failed: the resource stays in the state (ErrorResourceInitFailed) with `properties` as its outputs. The
 * provider host sends all of it in one gRPC trailer, which cannot exceed about 60 KB (larger ones hang the call), and
 * `properties` must carry the serialized provider (a later Delete runs it): so the message, with its log tail, goes
 * only in the error itself, and `reasons` gets its first line (tests/unit/copy-run-failure-size.test.ts keeps the
 * budget).
 */
function copyRunFailed(message: string, id: string, properties: Record<string, unknown>): Error {
  return Object.assign(new Error(message), { id, properties, reasons: [message.split("\n")[0]] });
}

/** Inputs whose change means another run (another Job); the rest updates the record in place. */
const RUN_IDENTITY = ["namespace", "runId", "jobName", "jobUid", "secretName", "secretUid", "configMapName", "configMapUid", "pullSecretName", "pullSecretUid"] as const;

function summaryOf(result: ResultSummary & { source: string; sourceDigest: string; imagesDigest: string }): CopySummary {
  return {
    images: result.images,
    copied: result.copied,
    skipped: result.skipped,
    failed: result.failed,
    bytes: result.bytes,
    bytesHuman: formatBytes(result.bytes),
    durationMs: result.durationMs,
    durationSeconds: Math.round(result.durationMs / 100) / 10,
    target: result.target,
    source: result.source,
    sourceDigest: result.sourceDigest,
    imagesDigest: result.imagesDigest,
    ...(result.groups ? { groups: result.groups } : {}),
    ...(result.modules ? { modules: result.modules } : {}),
    verificationOnly: result.copied === 0 && result.bytes === 0,
    ...(result.originalTag ? { originalTag: result.originalTag } : {}),
  };
}

function paths(inputs: CopyRunInputs) {
  const { namespace } = inputs;
  return {
    job: apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace, name: inputs.jobName }),
    secret: apiPath({ apiVersion: "v1", resource: "secrets", namespace, name: inputs.secretName }),
    configMap: inputs.configMapName ? apiPath({ apiVersion: "v1", resource: "configmaps", namespace, name: inputs.configMapName }) : undefined,
    pullSecret: inputs.pullSecretName ? apiPath({ apiVersion: "v1", resource: "secrets", namespace, name: inputs.pullSecretName }) : undefined,
  };
}

/** Deletes the run's Job, its Pods first (foreground propagation). */
async function deleteJob(kube: KubeClient, inputs: CopyRunInputs): Promise<void> {
  await deleteOwn(kube, paths(inputs).job, inputs.jobUid, { propagationPolicy: "Foreground" });
}

/** Waits (bounded) until the run's Job is gone, so its name is free; false when it is still there. */
async function jobGone(kube: KubeClient, inputs: CopyRunInputs, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const job = await kube.get<{ metadata?: { uid?: string } }>(paths(inputs).job);
    if (job?.metadata?.uid !== inputs.jobUid) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

/** The most of a failed run's log that its error carries (the failure's whole trailer is bounded, see copyRunFailed). */
export const FAILURE_LOG_TAIL_CHARS = 1200;

/** The last lines of `text` that fit in `max` characters (a longer last line keeps its end). */
function lastChars(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(text.length - max);
  const newline = cut.indexOf("\n");
  return newline >= 0 && newline < cut.length - 1 ? cut.slice(newline + 1) : `…${cut.slice(1)}`;
}

async function logTail(kube: KubeClient, namespace: string, podName: string | undefined, lines: number): Promise<string> {
  if (!podName) return "";
  const copier = await kube.logs(namespace, podName, { container: "copier", tailLines: String(lines) }).catch(() => "");
  if (copier.trim()) return copier;
  return kube.logs(namespace, podName, { container: "images-list", tailLines: String(lines) }).catch(() => "");
}

/** What the copier's result line must carry for the copy record; the reason when it does not. */
function completeResult(result: ResultSummary | undefined, sourceImage: string): { ok: Parameters<typeof summaryOf>[0] } | { problem: string } {
  if (!result) return { problem: "its log has no result line" };
  if (result.status !== "succeeded" || result.failed > 0) return { problem: `its result line says ${result.status} with ${result.failed} failed image(s)` };
  if (!result.source || !result.sourceDigest || !result.imagesDigest) {
    return { problem: "its result line has no source, sourceDigest or imagesDigest (a copier older than this program: rebuild the copier image from the Dockerfile)" };
  }
  if (result.source !== sourceImage) return { problem: `it copied ${result.source}, not the deckhouse image ${sourceImage}` };
  return { ok: result as Parameters<typeof summaryOf>[0] };
}

async function waitForRun(kube: KubeClient, inputs: CopyRunInputs, opts: CopyRunProviderOptions, id: string, providerRef: unknown): Promise<CopyRunOutputs> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const { namespace, jobName } = inputs;
  const failed = (status: CopyRunOutputs["status"], message: string) =>
    copyRunFailed(message, id, { ...inputs, status, finishedAt: new Date().toISOString(), __provider: providerRef });

  log(`images-copier: waiting for Job ${namespace}/${jobName} (run ${inputs.runId}); progress follows`);
  let outcome: Awaited<ReturnType<typeof waitForJob>>;
  try {
    outcome = await waitForJob(kube, {
      namespace,
      jobName,
      jobUid: inputs.jobUid,
      timeoutMs: inputs.timeoutMinutes * (opts.msPerMinute ?? 60_000),
      onLogLine: log,
      logPollMs: opts.logPollMs,
      rewatchDelayMs: opts.rewatchDelayMs,
      stuckGraceMs: opts.stuckGraceMs,
      unschedulableMs: (inputs.unschedulableMinutes ?? 5) * (opts.msPerMinute ?? 60_000),
      retryHint: "change runId to run it again",
    });
  } catch (error) {
    // e.g. RBAC forbids reading the Job: the objects stay (recorded, so destroy removes them)
    throw failed("failed", `${(error as Error).message}. Job ${namespace}/${jobName} and Secret ${inputs.secretName} are kept; \`pulumi destroy\` removes them.`);
  }
  const podName = outcome.podName ?? (await jobPods(kube, namespace, jobName, inputs.jobUid).catch(() => []))[0]?.metadata.name;
  const where = `kubectl -n ${namespace} logs job/${jobName}`;

  if (outcome.kind === "succeeded") {
    const checked = completeResult(parseResultLine(await logTail(kube, namespace, podName, 50)), inputs.sourceImage);
    if ("problem" in checked) {
      throw failed("failed", `images-copier: Job ${namespace}/${jobName} completed, but ${checked.problem}; nothing is recorded as copied. Job, Pod and Secret ${inputs.secretName} are kept (\`${where}\`); change runId to run it again.`);
    }
    const p = paths(inputs);
    await deleteJob(kube, inputs);
    await deleteOwn(kube, p.secret, inputs.secretUid);
    if (p.configMap) await deleteOwn(kube, p.configMap, inputs.configMapUid);
    if (p.pullSecret) await deleteOwn(kube, p.pullSecret, inputs.pullSecretUid);
    if (!(await jobGone(kube, inputs, opts.jobGoneTimeoutMs ?? 120_000))) {
      log(`images-copier: Job ${namespace}/${jobName} is still being deleted (its Pods go first); the copy itself is done`);
    }
    log(SUCCESS_MESSAGE);
    const summary = summaryOf(checked.ok);
    log(
      summary.verificationOnly
        ? `images-copier: verification run: all ${summary.images} images were already in the target with the source's digests; nothing was copied`
        : `images-copier: ${summary.images} images (${summary.copied} copied, ${summary.skipped} already there), ${summary.bytesHuman} in ${summary.durationSeconds}s`,
    );
    return { ...inputs, status: "succeeded", message: SUCCESS_MESSAGE, finishedAt: new Date().toISOString(), summary };
  }

  if (outcome.kind === "failed" && outcome.placement) {
    // One line: the pod never ran, or was stopped from outside; its log (if any) says nothing about why.
    throw failed("failed", `images-copier: Job ${namespace}/${jobName} failed: ${outcome.reason}. Job, Pod and Secret ${inputs.secretName} are kept (\`kubectl -n ${namespace} describe pod ${podName ?? `-l job-name=${jobName}`}\`).`);
  }
  const tail = lastChars((await logTail(kube, namespace, podName, 30)).trimEnd(), FAILURE_LOG_TAIL_CHARS);
  const message =
    outcome.kind === "timeout"
      ? `Image copier did not finish within ${inputs.timeoutMinutes} minute${inputs.timeoutMinutes === 1 ? "" : "s"} (timeoutMinutes); Job ${namespace}/${jobName} and Secret ${inputs.secretName} are kept. Follow it with \`${where}\`, then raise timeoutMinutes and run \`pulumi up\` again (the copier skips what is already copied).`
      : `${FAILURE_MESSAGE}\nJob ${namespace}/${jobName}: ${outcome.reason}. Job, Pod and Secret ${inputs.secretName} are kept (\`${where}\`).`;
  throw failed(outcome.kind, tail ? `${message}\nLast lines of pod ${podName}:\n${tail}` : message);
}

export function makeCopyRunProvider(opts: CopyRunProviderOptions = {}): pulumi.dynamic.ResourceProvider<CopyRunInputs, CopyRunOutputs> & { access: KubeAccess } {
  return {
    ...configuredAccess(),

    async diff(_id: string, olds: CopyRunOutputs, news: CopyRunInputs) {
      // A new Job (runId, any change of what runs, a Job replaced after a failure, objects recreated after a
      // refresh) is a new run: replaced, the old record deleted first (its delete frees the Job's name).
      const replaces = RUN_IDENTITY.filter((key) => olds[key] !== news[key]);
      const changes = replaces.length > 0 || olds.status !== "succeeded" || olds.timeoutMinutes !== news.timeoutMinutes || olds.sourceImage !== news.sourceImage;
      return { changes, replaces: [...replaces], deleteBeforeReplace: true };
    },

    async create(inputs: CopyRunInputs) {
      const id = `${inputs.namespace}/${inputs.jobName}/${inputs.runId}`;
      const kube = await connectKube(this.access);
      try {
        return { id, outs: await waitForRun(kube, inputs, opts, id, (inputs as unknown as Record<string, unknown>).__provider) };
      } finally {
        await kube.close();
      }
    },

    async update(id: string, olds: CopyRunOutputs, news: CopyRunInputs) {
      // The same Job: a succeeded run stays done; a failed one is looked at again (it fails again at once if the
      // Job is still the failed one; the Kubernetes provider replaces a failed Job on `pulumi up`: replaceUnready).
      if (olds.status === "succeeded") {
        return { outs: { ...news, status: olds.status, message: olds.message, finishedAt: olds.finishedAt, ...(olds.summary ? { summary: olds.summary } : {}) } };
      }
      const kube = await connectKube(this.access);
      try {
        return { outs: await waitForRun(kube, news, opts, id, (news as unknown as Record<string, unknown>).__provider) };
      } finally {
        await kube.close();
      }
    },

    async read(id: string, props?: CopyRunOutputs) {
      return { id, props };
    },

    async delete(_id: string, props: CopyRunOutputs) {
      const kube = await connectKube(this.access);
      try {
        await deleteJob(kube, props);
        const timeoutMs = opts.jobGoneTimeoutMs ?? 120_000;
        if (!(await jobGone(kube, props, timeoutMs))) {
          throw new Error(`images-copier: Job ${props.namespace}/${props.jobName} is still being deleted after ${Math.round(timeoutMs / 1000)}s (finalizers on its Pods?); run the command again`);
        }
      } finally {
        await kube.close();
      }
    },
  };
}
