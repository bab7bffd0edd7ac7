// `checkFrom: cluster`: the registry checks run by a short Job inside the cluster, for a target only the cluster
// reaches. Created before any patch (they depend on it): its create runs the Job, reads the copier's check line
// from the pod's log, judges it by the same rules as the local check, removes the Job, Pod, Secret and ConfigMap
// and fails with the one-line refusal when the target is not ready. Nothing runs in preview (the engine never
// calls create there); the preview shows this resource and says the check will run in the cluster.
import * as pulumi from "@pulumi/pulumi";
import { parseCheckLine } from "../../copier";
import { jobPods, waitForJob } from "../copier-job/job-waiter";
import { apiPath, configuredAccess, connectKube, type KubeClient } from "../kube";
import { buildCheckManifests, CHECK_BUNDLE_NAME, CHECK_CONTAINER, CHECK_NAME, type CheckJobSpec } from "./check-job";
import { registryRefusal, type RegistryExpectations } from "./registry-checks";

export interface ClusterCheckInputs {
  namespace: string;
  /** What must hold; the references are also the Job's arguments (plain, shown by the preview). */
  expectations: RegistryExpectations;
  copierImage: string;
  /** The copier bundle for the ConfigMap; absent with copierBundled. */
  bundle?: string;
  /** Secret: the target registry's access. */
  target: CheckJobSpec["target"];
  /** Secret: the deckhouse container's proxy variables. */
  proxyEnv: CheckJobSpec["proxyEnv"];
  timeoutSeconds: number;
  /** Plain words for the preview. */
  description: string;
}

export interface ClusterCheckOutputs extends ClusterCheckInputs {
  checkedAt: string;
}

export interface ClusterCheckOptions {
  log?: (line: string) => void;
  logPollMs?: number;
  rewatchDelayMs?: number;
  stuckGraceMs?: number;
}

function paths(namespace: string) {
  const at = (apiVersion: string, resource: string, name?: string) => apiPath({ apiVersion, resource, namespace, name });
  return {
    job: at("batch/v1", "jobs", CHECK_NAME),
    jobs: at("batch/v1", "jobs"),
    secret: at("v1", "secrets", CHECK_NAME),
    secrets: at("v1", "secrets"),
    configMap: at("v1", "configmaps", CHECK_BUNDLE_NAME),
    configMaps: at("v1", "configmaps"),
  };
}

/** Removes the check's objects (the Secret holds the target's password); bounded wait until the Job's name is free. */
async function removeCheckObjects(kube: KubeClient, namespace: string): Promise<void> {
  const p = paths(namespace);
  await kube.delete(p.job, { propagationPolicy: "Background" });
  await kube.delete(p.secret);
  await kube.delete(p.configMap);
  for (let i = 0; i < 60 && (await kube.get(p.job)) !== undefined; i++) await new Promise((r) => setTimeout(r, 500));
}

async function runCheck(kube: KubeClient, inputs: ClusterCheckInputs, opts: ClusterCheckOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const { namespace } = inputs;
  const p = paths(namespace);
  const manifests = buildCheckManifests({
    namespace,
    copierImage: inputs.copierImage,
    bundle: inputs.bundle,
    target: inputs.target,
    references: inputs.expectations.references,
    proxyEnv: inputs.proxyEnv ?? [],
    timeoutSeconds: inputs.timeoutSeconds,
  });
  await removeCheckObjects(kube, namespace);
  try {
    if (manifests.configMap) await kube.create(p.configMaps, manifests.configMap);
    await kube.create(p.secrets, manifests.secret);
    const job = await kube.create<{ metadata?: { uid?: string } }>(p.jobs, manifests.job);
    log(`images-copier: checking the target registry from the cluster (Job ${namespace}/${CHECK_NAME})`);
    const outcome = await waitForJob(kube, {
      namespace,
      jobName: CHECK_NAME,
      jobUid: job.metadata?.uid,
      timeoutMs: inputs.timeoutSeconds * 1000,
      logPollMs: opts.logPollMs,
      rewatchDelayMs: opts.rewatchDelayMs,
      stuckGraceMs: opts.stuckGraceMs ?? 120_000,
    });
    const podName = outcome.podName ?? (await jobPods(kube, namespace, CHECK_NAME, job.metadata?.uid).catch(() => []))[0]?.metadata.name;
    const text = podName ? await kube.logs(namespace, podName, { container: CHECK_CONTAINER, tailLines: "200" }).catch(() => "") : "";
    const report = parseCheckLine(text);
    if (!report) {
      const why = outcome.kind === "failed" ? outcome.reason : outcome.kind === "timeout" ? `no result within ${inputs.timeoutSeconds}s` : "no check line in its log";
      const tail = text.trimEnd().split("\n").slice(-10).join("\n");
      throw new Error(`images-copier: refusing to switch: the check Job ${namespace}/${CHECK_NAME} gave no verdict (${why})${tail ? `; last lines of its log:\n${tail}` : ""}`);
    }
    if (report.error) throw new Error(`images-copier: refusing to switch: the check Job refused its input: ${report.error}`);
    const refusal = registryRefusal(report.bearer, report.images, inputs.expectations);
    if (refusal) throw new Error(`${refusal} (checked from the cluster)`);
    log(`images-copier: the target registry passed the check from the cluster (${report.images.length} image(s) present, Bearer token auth)`);
  } finally {
    await removeCheckObjects(kube, namespace);
  }
}

/** Only what is checked counts: a rebuilt bundle or a new description alone runs no new check. */
function checked(inputs: ClusterCheckInputs): string {
  const { expectations, copierImage, target, proxyEnv, namespace, bundle } = inputs;
  return JSON.stringify({ expectations, copierImage, target, proxyEnv, namespace, bundled: bundle === undefined });
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

    /** Anything checked changed: replace, so the check runs again before the patches that depend on it. */
    async diff(_id: string, olds: ClusterCheckOutputs, news: ClusterCheckInputs): Promise<pulumi.dynamic.DiffResult> {
      const replace = checked(olds) !== checked(news);
      return { changes: replace || olds.description !== news.description || olds.timeoutSeconds !== news.timeoutSeconds, replaces: replace ? ["expectations"] : [], deleteBeforeReplace: true };
    },

    async update(_id: string, olds: ClusterCheckOutputs, news: ClusterCheckInputs): Promise<pulumi.dynamic.UpdateResult> {
      return { outs: { ...news, checkedAt: olds.checkedAt } };
    },

    async delete(_id: string, props: ClusterCheckOutputs): Promise<void> {
      const kube = await connectKube(this.access);
      try {
        await removeCheckObjects(kube, props.namespace);
      } finally {
        await kube.close();
      }
    },
  };
}

const clusterCheckProvider = makeClusterCheckProvider();

export class ClusterCheck extends pulumi.dynamic.Resource {
  declare readonly checkedAt: pulumi.Output<string>;

  constructor(name: string, args: { [K in keyof ClusterCheckInputs]: pulumi.Input<ClusterCheckInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(clusterCheckProvider, name, { ...args, checkedAt: undefined }, { ...opts, additionalSecretOutputs: ["target", "proxyEnv"] }, "images-copier", "ClusterCheck");
  }
}
