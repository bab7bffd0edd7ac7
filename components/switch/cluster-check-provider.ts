// `checkFrom: cluster`: the registry checks run by a short Job inside the cluster, for a target only the cluster
// reaches. The check's Secret, the copier's ConfigMap and the pull Secret are declared resources (check-job.ts);
// this resource is created after them and before any patch (they depend on it): its create runs the Job, reads the
// copier's check line from the pod's log, judges it by the same rules as the local check, and removes the Job. A
// check that passed also removes its Secret, ConfigMap and pull Secret (by uid: a newer object of the same name
// stays); one that failed keeps them for the next `pulumi up`, which runs it again, and fails with the one-line
// refusal. Nothing runs in preview (the engine never calls create there); the preview shows this resource and says
// the check will run in the cluster. No input holds a credential. Closure-serialized by Pulumi: npm and node modules
// are required inside functions, cluster access comes from `configure` at every call.
import type { V1Job } from "@kubernetes/client-node";
import * as pulumi from "@pulumi/pulumi";
import { parseCheckLine } from "../../copier";
import { jobPods, waitForJob } from "../copier-job/job-waiter";
import { COPIER_CONTAINER } from "../copier-job/pod";
import { apiPath, configuredAccess, connectKube, type KubeClient } from "../kube";
import { deleteOwn } from "../kube/delete-own";
import { CHECK_NAME } from "./check-job";
import { registryRefusal, type RegistryExpectations } from "./registry-checks";

/** One of the check's objects, deleted once the check passed. */
export interface CheckObject {
  resource: "secrets" | "configmaps";
  name: string;
  uid: string;
}

export interface ClusterCheckInputs {
  namespace: string;
  /** What must hold; the references are also the Job's arguments (plain, shown by the preview). */
  expectations: RegistryExpectations;
  /** The check Job as the program built it (plain: no credential), with its run key and the uids of `objects`. */
  job: V1Job;
  /** The check's Secret, ConfigMap and pull Secret. */
  objects: CheckObject[];
  timeoutSeconds: number;
  /** Plain words for the preview. */
  description: string;
  /** A check pod the scheduler cannot place for this long fails the check (5 when absent). */
  unschedulableMinutes?: number;
}

export interface ClusterCheckOutputs extends ClusterCheckInputs {
  checkedAt: string;
}

export interface ClusterCheckOptions {
  log?: (line: string) => void;
  logPollMs?: number;
  rewatchDelayMs?: number;
  stuckGraceMs?: number;
  /** Minutes are the unit of `unschedulableMinutes`; tests shrink it. */
  msPerMinute?: number;
}

function jobPath(namespace: string, name?: string): string {
  return apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace, name });
}

/** Removes the check Job (a Job left by an interrupted `pulumi up` too); bounded wait until its name is free. */
async function removeJob(kube: KubeClient, namespace: string): Promise<void> {
  const path = jobPath(namespace, CHECK_NAME);
  await kube.delete(path, { propagationPolicy: "Background" });
  for (let i = 0; i < 60 && (await kube.get(path)) !== undefined; i++) await new Promise((r) => setTimeout(r, 500));
}

async function runCheck(kube: KubeClient, inputs: ClusterCheckInputs, opts: ClusterCheckOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const { namespace } = inputs;
  await removeJob(kube, namespace);
  let passed = false;
  try {
    const job = await kube.create<{ metadata?: { uid?: string } }>(jobPath(namespace), inputs.job);
    log(`images-copier: checking the target registry from the cluster (Job ${namespace}/${CHECK_NAME})`);
    const outcome = await waitForJob(kube, {
      namespace,
      jobName: CHECK_NAME,
      jobUid: job.metadata?.uid,
      timeoutMs: inputs.timeoutSeconds * 1000,
      logPollMs: opts.logPollMs,
      rewatchDelayMs: opts.rewatchDelayMs,
      stuckGraceMs: opts.stuckGraceMs ?? 120_000,
      unschedulableMs: (inputs.unschedulableMinutes ?? 5) * (opts.msPerMinute ?? 60_000),
      retryHint: "run `pulumi up` again to check again",
    });
    const podName = outcome.podName ?? (await jobPods(kube, namespace, CHECK_NAME, job.metadata?.uid).catch(() => []))[0]?.metadata.name;
    const text = podName ? await kube.logs(namespace, podName, { container: COPIER_CONTAINER, tailLines: "200" }).catch(() => "") : "";
    const report = parseCheckLine(text);
    if (!report && outcome.kind === "failed" && outcome.placement) {
      throw new Error(`images-copier: refusing to switch: the check Job ${namespace}/${CHECK_NAME} did not run: ${outcome.reason}`);
    }
    if (!report) {
      const why = outcome.kind === "failed" ? outcome.reason : outcome.kind === "timeout" ? `no result within ${inputs.timeoutSeconds}s` : "no check line in its log";
      const tail = text.trimEnd().split("\n").slice(-10).join("\n");
      throw new Error(`images-copier: refusing to switch: the check Job ${namespace}/${CHECK_NAME} gave no verdict (${why})${tail ? `; last lines of its log:\n${tail}` : ""}`);
    }
    if (report.error) throw new Error(`images-copier: refusing to switch: the check Job refused its input: ${report.error}`);
    const refusal = registryRefusal(report.bearer, report.images, inputs.expectations);
    if (refusal) throw new Error(`${refusal} (checked from the cluster)`);
    passed = true;
    log(`images-copier: the target registry passed the check from the cluster (${report.images.length} image(s) present, Bearer token auth)`);
  } finally {
    await removeJob(kube, namespace);
    if (passed) {
      for (const o of inputs.objects) await deleteOwn(kube, apiPath({ apiVersion: "v1", resource: o.resource, namespace, name: o.name }), o.uid);
    }
  }
}

/** What makes it another check: what the Job runs (its run key and objects' uids included) and what it expects. */
function sameCheck(olds: ClusterCheckInputs, news: ClusterCheckInputs): boolean {
  const { isDeepStrictEqual } = require("node:util") as typeof import("node:util");
  const identity = (i: ClusterCheckInputs) => JSON.parse(JSON.stringify({ namespace: i.namespace, expectations: i.expectations, job: i.job, objects: i.objects }));
  return isDeepStrictEqual(identity(olds), identity(news));
}

export function makeClusterCheckProvider(opts: ClusterCheckOptions = {}) {
  return {
    ...configuredAccess(),

    async create(inputs: ClusterCheckInputs): Promise<pulumi.dynamic.CreateResult> {
      const kube = await connectKube(this.access);
      try {
        await runCheck(kube, inputs, opts);
      } finally {
        await kube.close();
      }
      const outs: ClusterCheckOutputs = { ...inputs, checkedAt: new Date().toISOString() };
      return { id: `${inputs.namespace}/${CHECK_NAME}`, outs };
    },

    /** Another check: replaced, so it runs again before the patches that depend on it. */
    async diff(_id: string, olds: ClusterCheckOutputs, news: ClusterCheckInputs): Promise<pulumi.dynamic.DiffResult> {
      const replace = !sameCheck(olds, news);
      return { changes: replace || olds.description !== news.description || olds.timeoutSeconds !== news.timeoutSeconds, replaces: replace ? ["job"] : [], deleteBeforeReplace: true };
    },

    async update(_id: string, olds: ClusterCheckOutputs, news: ClusterCheckInputs): Promise<pulumi.dynamic.UpdateResult> {
      return { outs: { ...news, checkedAt: olds.checkedAt } };
    },

    /** The check's Secret, ConfigMap and pull Secret are resources of their own: their deletes remove them. */
    async delete(_id: string, props: ClusterCheckOutputs): Promise<void> {
      const kube = await connectKube(this.access);
      try {
        await removeJob(kube, props.namespace);
      } finally {
        await kube.close();
      }
    },
  };
}

const clusterCheckProvider = makeClusterCheckProvider();

/** The inputs as the program gives them: the objects' uids are still to come. */
export type ClusterCheckArgs = { [K in Exclude<keyof ClusterCheckInputs, "objects">]: pulumi.Input<ClusterCheckInputs[K]> } & {
  objects: Array<{ [K in keyof CheckObject]: pulumi.Input<CheckObject[K]> }>;
};

export class ClusterCheck extends pulumi.dynamic.Resource {
  declare readonly checkedAt: pulumi.Output<string>;

  constructor(name: string, args: ClusterCheckArgs, opts?: pulumi.CustomResourceOptions) {
    super(clusterCheckProvider, name, { ...args, checkedAt: undefined }, opts, "images-copier", "ClusterCheck");
  }
}
