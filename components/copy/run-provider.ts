// The dynamic provider that owns one copy run: create() applies the Secret, ConfigMap and Job, waits for the Job,
// cleans up on success and returns the copier's summary; read() keeps the recorded outcome (a finished run is a
// historical fact, so `pulumi refresh` never starts a second copy); delete() removes whatever is left.
// It is closure-serialized by Pulumi: npm packages are required inside functions, credentials arrive only as inputs.
import type * as pulumi from "@pulumi/pulumi";
import { formatBytes, parseResultLine, type ResultSummary } from "../../copier";
import { CONFIG_MAP_NAME, JOB_NAME, SECRET_NAME, withActiveDeadline, type CopyRunManifests, type CopyRunPlan } from "./manifests";
import { jobPods, waitForJob } from "./job-waiter";
import { apiPath, connectKube, kubeAccessFromConfig, type KubeAccess, type KubeClient } from "../kube";

export const SUCCESS_MESSAGE = "Image copier ran successfully. Cleanup";
export const FAILURE_MESSAGE = "Image copier was failed. See logs into image copier job pod for additional information";

export interface CopyRunInputs {
  namespace: string;
  runId: string;
  timeoutMinutes: number;
  manifests: CopyRunManifests;
  /** What the run does, without credentials (shown by preview; not used to decide anything). */
  plan?: CopyRunPlan;
  /** Fallback cluster access when the provider is not configured with `kubernetes:*` (and KUBECONFIG is not set). */
  kube?: KubeAccess;
}

export interface CopySummary {
  images: number;
  copied: number;
  skipped: number;
  failed: number;
  bytes: number;
  bytesHuman: string;
  durationSeconds: number;
  target: string;
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
}

/** An error the engine records as "created but failed to initialize": state keeps it, so destroy cleans up. */
class CopyRunFailed extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly properties: Record<string, unknown>,
    readonly reasons: string[],
  ) {
    super(message);
  }
}

function summaryOf(result: ResultSummary): CopySummary {
  return {
    images: result.images,
    copied: result.copied,
    skipped: result.skipped,
    failed: result.failed,
    bytes: result.bytes,
    bytesHuman: formatBytes(result.bytes),
    durationSeconds: Math.round(result.durationMs / 100) / 10,
    target: result.target,
  };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The manifests with the ConfigMap's copier text left out (its presence still counts). */
function withoutBundleText(manifests: CopyRunManifests | undefined): unknown {
  if (!manifests?.configMap) return manifests;
  return { ...manifests, configMap: { ...manifests.configMap, data: Object.keys(manifests.configMap.data ?? {}) } };
}

function paths(namespace: string) {
  return {
    job: apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace, name: JOB_NAME }),
    jobs: apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace }),
    secret: apiPath({ apiVersion: "v1", resource: "secrets", namespace, name: SECRET_NAME }),
    secrets: apiPath({ apiVersion: "v1", resource: "secrets", namespace }),
    configMap: apiPath({ apiVersion: "v1", resource: "configmaps", namespace, name: CONFIG_MAP_NAME }),
    configMaps: apiPath({ apiVersion: "v1", resource: "configmaps", namespace }),
  };
}

/** Deletes Job (its Pods too), Secret and ConfigMap; waits (bounded) until the Job is gone so its name is free. */
export async function removeRunObjects(kube: KubeClient, namespace: string): Promise<void> {
  const p = paths(namespace);
  await kube.delete(p.job, { propagationPolicy: "Background" });
  await kube.delete(p.secret);
  await kube.delete(p.configMap);
  for (let i = 0; i < 120 && (await kube.get(p.job)) !== undefined; i++) await new Promise((r) => setTimeout(r, 500));
}

async function logTail(kube: KubeClient, namespace: string, podName: string | undefined, lines: number): Promise<string> {
  if (!podName) return "";
  const copier = await kube.logs(namespace, podName, { container: "copier", tailLines: String(lines) }).catch(() => "");
  if (copier.trim()) return copier;
  return kube.logs(namespace, podName, { container: "images-list", tailLines: String(lines) }).catch(() => "");
}

async function runCopy(kube: KubeClient, inputs: CopyRunInputs, opts: CopyRunProviderOptions, id: string, providerRef: unknown): Promise<CopyRunOutputs> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const { namespace } = inputs;
  const p = paths(namespace);

  // The failed run's record holds no credential: the next `pulumi up` sees the manifests differ and replaces it.
  const { manifests: _manifests, kube: _kube, ...record } = inputs;
  const failed = (status: CopyRunOutputs["status"], message: string) =>
    new CopyRunFailed(message, id, { ...record, status, message, finishedAt: new Date().toISOString(), __provider: providerRef }, [message]);

  // Leftovers of an earlier failed run are replaced: the new run starts from a clean slate.
  await removeRunObjects(kube, namespace);
  let job: { metadata?: { uid?: string } };
  try {
    if (inputs.manifests.configMap) await kube.create(p.configMaps, inputs.manifests.configMap);
    await kube.create(p.secrets, inputs.manifests.secret);
    job = await kube.create<{ metadata?: { uid?: string } }>(p.jobs, withActiveDeadline(inputs.manifests.job, inputs.timeoutMinutes));
  } catch (error) {
    // Nothing may stay behind unrecorded: the Secret holds credentials. Remove what was created; if even that
    // fails, record the run (with its id) so `pulumi destroy` removes it.
    const reason = `images-copier: could not start Job ${namespace}/${JOB_NAME}: ${(error as Error).message}`;
    try {
      await removeRunObjects(kube, namespace);
    } catch (cleanup) {
      throw failed("failed", `${reason}; removing the Secret ${SECRET_NAME} created for it failed too (${(cleanup as Error).message}): run \`pulumi destroy\` or delete it by hand`);
    }
    throw new Error(`${reason}; the Secret and ConfigMap created for it were removed`);
  }
  log(`images-copier: Job ${namespace}/${JOB_NAME} started (run ${inputs.runId}); progress follows`);

  const timeoutMs = inputs.timeoutMinutes * (opts.msPerMinute ?? 60_000);
  let outcome: Awaited<ReturnType<typeof waitForJob>>;
  try {
    outcome = await waitForJob(kube, {
      namespace,
      jobName: JOB_NAME,
      jobUid: job.metadata?.uid,
      timeoutMs,
      onLogLine: log,
      logPollMs: opts.logPollMs,
      rewatchDelayMs: opts.rewatchDelayMs,
      stuckGraceMs: opts.stuckGraceMs,
    });
  } catch (error) {
    // e.g. RBAC forbids reading the Job: the objects stay (recorded, so destroy removes them)
    throw failed("failed", `${(error as Error).message}. Job ${namespace}/${JOB_NAME} and Secret ${SECRET_NAME} are kept; \`pulumi destroy\` removes them.`);
  }
  const podName = outcome.podName ?? (await jobPods(kube, namespace, JOB_NAME, job.metadata?.uid).catch(() => []))[0]?.metadata.name;
  const finishedAt = new Date().toISOString();

  if (outcome.kind === "succeeded") {
    const result = parseResultLine(await logTail(kube, namespace, podName, 50));
    await removeRunObjects(kube, namespace);
    log(SUCCESS_MESSAGE);
    const summary = result ? summaryOf(result) : undefined;
    if (summary) {
      log(`images-copier: ${summary.images} images (${summary.copied} copied, ${summary.skipped} already there), ${summary.bytesHuman} in ${summary.durationSeconds}s`);
    }
    return { ...inputs, status: "succeeded", message: SUCCESS_MESSAGE, finishedAt, ...(summary ? { summary } : {}) };
  }

  const tail = (await logTail(kube, namespace, podName, 30)).trimEnd();
  const where = `kubectl -n ${namespace} logs job/${JOB_NAME}`;
  const message =
    outcome.kind === "timeout"
      ? `Image copier did not finish within ${inputs.timeoutMinutes} minute${inputs.timeoutMinutes === 1 ? "" : "s"} (timeoutMinutes); Job ${namespace}/${JOB_NAME} and Secret ${SECRET_NAME} are kept. Follow it with \`${where}\`, then raise timeoutMinutes and run \`pulumi up\` again (the copier skips what is already copied).`
      : `${FAILURE_MESSAGE}\nJob ${namespace}/${JOB_NAME}: ${outcome.reason}. Job, Pod and Secret ${SECRET_NAME} are kept (\`${where}\`).`;
  const full = tail ? `${message}\nLast lines of pod ${podName}:\n${tail}` : message;
  throw failed(outcome.kind, full);
}

export function makeCopyRunProvider(opts: CopyRunProviderOptions = {}): pulumi.dynamic.ResourceProvider<CopyRunInputs, CopyRunOutputs> & { access?: KubeAccess } {
  return {
    access: undefined as KubeAccess | undefined,

    async configure(req: pulumi.dynamic.ConfigureRequest) {
      const access = kubeAccessFromConfig(req.config);
      if (access.kubeconfig || access.context) this.access = access;
    },

    async diff(_id: string, olds: CopyRunOutputs, news: CopyRunInputs) {
      const replaces: string[] = [];
      if (olds.runId !== news.runId) replaces.push("runId");
      // After a success, a rebuilt copier bundle alone (a copier change) is no reason to copy everything again.
      const compared = (m: CopyRunManifests | undefined) => (olds.status === "succeeded" ? withoutBundleText(m) : m);
      if (canonical(compared(olds.manifests)) !== canonical(compared(news.manifests))) replaces.push("manifests");
      const changes =
        replaces.length > 0 ||
        olds.status !== "succeeded" ||
        olds.timeoutMinutes !== news.timeoutMinutes ||
        olds.namespace !== news.namespace ||
        canonical(olds.kube) !== canonical(news.kube) ||
        canonical(olds.manifests) !== canonical(news.manifests);
      return { changes, replaces, deleteBeforeReplace: true };
    },

    async create(inputs: CopyRunInputs) {
      const id = `${inputs.namespace}/${JOB_NAME}/${inputs.runId}`;
      const kube = await connectKube(this.access ?? inputs.kube ?? {});
      try {
        const outs = await runCopy(kube, inputs, opts, id, (inputs as unknown as Record<string, unknown>).__provider);
        return { id, outs };
      } finally {
        await kube.close();
      }
    },

    async update(id: string, olds: CopyRunOutputs, news: CopyRunInputs) {
      // A succeeded run stays done (only runId or the rendered objects replace it); a failed one runs again.
      if (olds.status === "succeeded") {
        return { outs: { ...news, status: olds.status, message: olds.message, finishedAt: olds.finishedAt, ...(olds.summary ? { summary: olds.summary } : {}) } };
      }
      const kube = await connectKube(this.access ?? news.kube ?? olds.kube ?? {});
      try {
        return { outs: await runCopy(kube, news, opts, id, (news as unknown as Record<string, unknown>).__provider) };
      } finally {
        await kube.close();
      }
    },

    async read(id: string, props?: CopyRunOutputs) {
      return { id, props };
    },

    async delete(_id: string, props: CopyRunOutputs) {
      const kube = await connectKube(this.access ?? props.kube ?? {});
      try {
        await removeRunObjects(kube, props.namespace);
      } finally {
        await kube.close();
      }
    },
  };
}
