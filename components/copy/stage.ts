// The copy stack, as the design draws it.
//
// declareCopyStage first reads what it needs, in `pulumi preview` as in `pulumi up`: the copier image when it is in
// the target registry (../copier-job/image.ts: pinned by digest, its copier told by its label), the local inputs (the copier
// bundle, an `imagesFile`), then the cluster (the deckhouse Deployment, the deckhouse-registry Secret) and the
// release check (release-check.ts: a Deckhouse before v1.51 runs its own images-copier hook on the same Secret).
// A refusal or bad input rejects with one RunError before any resource is registered: nothing in the cluster
// changes, and Pulumi reports a RunError as its message alone. Only then is CopyStage constructed; it declares
// every resource unconditionally, with plain known values (only the objects' uids wait for them to exist):
//
//   Secret images-copier-config (Kubernetes; data secret, immutable)
//   Secret images-copier-registry (Kubernetes dockerconfigjson; data secret; only for a copier image in the target registry)
//     -> CopierBundle (the ConfigMap with the bundled copier, named by digest; absent with copierBundled)
//     -> Job copy-images (Kubernetes; skipAwait, replaceUnready; names the uids of the ones above)
//     -> CopyRun (waits for the Job, relays progress; on success deletes Job, Pods, Secrets and ConfigMap)
//
// The Secrets, ConfigMap and Job of a run share a run key (../copier-job/run-objects.ts), so they are only ever replaced together,
// delete-before-replace (fixed names); CopyRun follows the Job's uid. See the README for what `pulumi up` again,
// `pulumi refresh`, a new runId and `pulumi destroy` do.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ImagesList } from "../../copier";
import type { CopyStageConfig } from "../../stack-config";
import { connectKube, type KubeAccess } from "../kube";
import { kubeAccessFromStack } from "../kube/stack-access";
import { oneLineError } from "../one-line-error";
import { CopierBundle } from "../copier-job/bundle";
import { copierBundleFile, copierBundlePath, type CopierBundleFile } from "../copier-job/bundle-file";
import { copierImageOutput, describeCopierImage, planCopierImage, type CopierImageInspector, type CopierImagePlan } from "../copier-job/image";
import { bundleConfigMapName, describePlacement, podPlacementOf } from "../copier-job/pod";
import { splitProxyEnv } from "../copier-job/proxy-env";
import { buildPullSecretData, PULL_SECRET_TYPE } from "../copier-job/pull-secret";
import { runKeyOf, runObjectMetadata, withRunObjects } from "../copier-job/run-objects";
import { readCopySource, type CopySourceView } from "./cluster-read";
import { readImagesFile } from "./images-file";
import { buildCopyJob, buildSecretData, JOB_NAME, LABELS, NAMESPACE, PULL_SECRET_NAME, SECRET_NAME } from "./manifests";
import { copyRecordOf } from "./record";
import type { RepoConfigJson } from "./registry-credentials";
import { listDeckhouseReleases, requireReleaseWithoutHook, type DeckhouseRelease } from "./release-check";
import { CopyRun } from "./run";
import { describeCopyPlan, planCopy, type CopyPlan } from "./copy-plan";
import { kebabChannel, readClusterModules, type ClusterModules } from "./modules-read";
import { readReleaseChannel } from "../switch/updates";
import { copyWrites } from "./write-proofs";
import { describeProven, proveWrites } from "../kube/write-proof";
import { requireNotSwitched } from "./switched-check";

export interface CopyStageDeps {
  /** Cluster access for the program's reads; defaults to `kubernetes:kubeconfig` / `kubernetes:context`. */
  kube?: KubeAccess;
  /** The bundled copier; dist/images-copier.cjs (or IMAGES_COPIER_BUNDLE) when not given; unused with copierBundled. */
  copierBundlePath?: string;
  /** Reads a copier image in the target registry; the copier's inspectCopierImage when not given. */
  inspectCopierImage?: CopierImageInspector;
}

export interface CopyStageArgs {
  config: CopyStageConfig;
  /** What declareCopyStage read from the cluster. */
  source: CopySourceView;
  /** The running release, checked to have no images-copier hook. */
  release: DeckhouseRelease;
  /** What the Job runs and where its copier comes from. */
  copierImage: CopierImagePlan;
  /** Absent when the image holds the copier (copierBundled, or publish-image's label). */
  bundle?: CopierBundleFile;
  /** The stack's imagesFile, when set. */
  images?: ImagesList;
  /** The cluster's modules and whether operator-trivy is on (modules-read.ts). */
  modules?: ClusterModules;
  /** The cluster's release channel, kebab-case, when one is set. */
  releaseChannel?: string;
}

/**
 * Reads and checks, then declares the copy stage. Rejects with one RunError on bad input, an unreadable cluster or
 * a Deckhouse that still runs its own images-copier hook; nothing of the stage is declared then.
 */
export async function declareCopyStage(name: string, config: CopyStageConfig, opts?: pulumi.ComponentResourceOptions, deps: CopyStageDeps = {}): Promise<CopyStage> {
  let copierImage: CopierImagePlan;
  let bundle: CopierBundleFile | undefined;
  let images: ImagesList | undefined;
  try {
    copierImage = await planCopierImage(config, deps.inspectCopierImage);
    // An image that carries the copier itself (copierBundled, or publish-image's label): no bundle, no ConfigMap.
    bundle = copierImage.copier !== "configmap" ? undefined : copierBundleFile(deps.copierBundlePath ?? copierBundlePath());
    images = config.imagesFile ? readImagesFile(config.imagesFile) : undefined;
  } catch (error) {
    throw oneLineError(error, "images-copier: ");
  }
  let source: CopySourceView;
  let release: DeckhouseRelease;
  let modules: ClusterModules;
  let releaseChannel: string | undefined;
  try {
    const kube = await connectKube(deps.kube ?? kubeAccessFromStack());
    try {
      source = await readCopySource(kube, { configuredVersion: config.deckhouseVersion });
      requireNotSwitched(config.targetImage, { deckhouseImage: source.deckhouseImage, imagesRepo: source.imagesRepo });
      release = await requireReleaseWithoutHook({
        annotation: source.versionAnnotation,
        image: source.deckhouseImage,
        configured: config.deckhouseVersion,
        listReleases: () => listDeckhouseReleases(kube),
      });
      modules = await readClusterModules(kube);
      const channel = (await readReleaseChannel(kube)).channel;
      releaseChannel = channel ? kebabChannel(channel) : undefined;
      // The run's creates in d8-system, as server-side dry runs with the identity they will use.
      const run = { config, source, copierImage, bundle, images, modules, releaseChannel };
      const proven = await proveWrites(kube, copyWrites(copyRunOf(run, copyPlanOf(run)), copierImage.inTargetRegistry), "images-copier: refusing to copy");
      if (proven.length > 0) pulumi.log.info(describeProven(proven));
    } finally {
      await kube.close();
    }
  } catch (error) {
    throw oneLineError(error, "images-copier: cannot read the cluster: ");
  }
  return new CopyStage(name, { config, source, release, copierImage, bundle, images, modules, releaseChannel }, opts);
}

type RunInputs = Pick<CopyStageArgs, "config" | "source" | "copierImage" | "bundle" | "images" | "modules" | "releaseChannel">;

/** What the run copies, per group (copy-plan.ts). */
function copyPlanOf(args: RunInputs): CopyPlan {
  return planCopy({
    config: args.config,
    imagesCount: args.images ? new Set(Object.values(args.images).flatMap((m) => Object.values(m))).size : undefined,
    modules: args.modules ?? { deckhouse: [], others: [], trivyEnabled: false },
    releaseChannel: args.releaseChannel,
  });
}

/** The run's Job (before the uids of its objects exist), its run key and what its Secret holds. */
function copyRunOf(args: RunInputs, plan: CopyPlan) {
  const { config, source, copierImage, bundle, images } = args;
  // Proxy values (they may hold a password) move into the Secret; the Job refers to them.
  const proxy = splitProxyEnv(source.proxyEnv, SECRET_NAME);
  const target: RepoConfigJson = {
    username: config.targetUsername,
    password: config.targetPassword,
    insecure: config.targetInsecure,
    image: config.targetImage,
    ...(config.targetCA ? { ca: config.targetCA } : {}),
  };
  const bundleName = bundle ? bundleConfigMapName(bundle.sha256) : undefined;
  const placement = podPlacementOf(config);
  const jobBase = buildCopyJob({
    namespace: NAMESPACE,
    runId: config.runId,
    copierImage: copierImage.image,
    deckhouseImage: source.deckhouseImage,
    concurrency: config.concurrency,
    timeoutMinutes: config.timeoutMinutes,
    withUpdateImages: config.copyUpdateImages,
    uploadChunkMiB: config.uploadChunkMiB,
    modulesInSecret: plan.modules.copied.length > 0,
    withSecurityDatabases: plan.securityDatabases.images > 0,
    releaseChannel: plan.updates.releaseChannel,
    imagesInSecret: images !== undefined,
    bundleConfigMap: bundleName,
    proxyEnv: proxy.jobEnv,
    pullSecret: copierImage.inTargetRegistry ? PULL_SECRET_NAME : undefined,
    placement,
  });
  const runKey = runKeyOf(jobBase);
  return { proxy, target, bundleName, jobBase, runKey, run: { key: runKey, id: config.runId }, placement };
}

export class CopyStage extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Input<unknown>>;
  readonly secret: k8s.core.v1.Secret;
  /** Only for a copier image in the target registry. */
  readonly pullSecret?: k8s.core.v1.Secret;
  /** Absent when the image carries the copier. */
  readonly bundle?: CopierBundle;
  readonly job: k8s.batch.v1.Job;
  readonly run: CopyRun;

  constructor(name: string, args: CopyStageArgs, opts?: pulumi.ComponentResourceOptions) {
    // No args to the base class: a component's args are stored as its inputs, and these hold credentials.
    super("images-copier:index:CopyStage", name, {}, opts);
    const { config, source, release, copierImage, bundle, images } = args;
    const parent = { parent: this };
    const plan = copyPlanOf(args);
    pulumi.log.info(describeCopyPlan(plan).join("\n"), this);
    const { proxy, target, bundleName, jobBase, runKey, run, placement } = copyRunOf(args, plan);
    // Said in the preview when the stack places the pod (the Job's spec shows it too; the output jobPlacement always).
    if (placement) pulumi.log.info(describePlacement(placement, "the copy Job", config.unschedulableMinutes), this);

    // Fixed names: a new run deletes the old objects first. A run's objects are never updated in place.
    const asRun = { ...parent, deleteBeforeReplace: true, replaceOnChanges: ["*"] };
    this.secret = new k8s.core.v1.Secret(
      "images-copier-config",
      {
        metadata: runObjectMetadata(SECRET_NAME, NAMESPACE, LABELS, run),
        type: "Opaque",
        immutable: true,
        data: pulumi.secret(
          buildSecretData({ target, source: source.sourceRepo, images, proxyValues: proxy.secretValues, ...(plan.modules.copied.length > 0 ? { modules: plan.modules.copied } : {}) }),
        ),
      },
      asRun,
    );

    if (copierImage.inTargetRegistry) {
      // The nodes pull the copier image from the target registry with the target credentials.
      this.pullSecret = new k8s.core.v1.Secret(
        PULL_SECRET_NAME,
        {
          metadata: runObjectMetadata(PULL_SECRET_NAME, NAMESPACE, LABELS, run),
          type: PULL_SECRET_TYPE,
          immutable: true,
          data: pulumi.secret(buildPullSecretData({ image: config.targetImage, username: config.targetUsername, password: config.targetPassword })),
        },
        asRun,
      );
    }
    // Said in the preview whenever the Job does not simply run copierImage as set with the ConfigMap's copier.
    if (copierImage.inTargetRegistry || copierImage.copier !== "configmap") {
      pulumi.log.info(describeCopierImage(copierImage, this.pullSecret ? PULL_SECRET_NAME : undefined), this);
    }

    if (bundle && bundleName) {
      this.bundle = new CopierBundle(
        "copier-bundle",
        {
          namespace: NAMESPACE,
          configMapName: bundleName,
          path: bundle.path,
          sha256: bundle.sha256,
          bytes: bundle.bytes,
          labels: { ...LABELS },
          runId: config.runId,
          runKey,
          secretUid: this.secret.metadata.uid,
        },
        parent,
      );
    }

    // The uids stay outputs inside the spec: unknown in the preview of a new run, while the rest of the Job shows.
    const job = withRunObjects(jobBase, { runKey, secretUid: this.secret.metadata.uid, bundleUid: this.bundle?.uid, pullSecretUid: this.pullSecret?.metadata.uid });
    this.job = new k8s.batch.v1.Job(
      "copy-images",
      {
        // client-node's V1 types and the provider's input types describe the same JSON (they differ only in Dates)
        metadata: job.metadata as unknown as k8s.types.input.meta.v1.ObjectMeta,
        spec: job.spec as unknown as k8s.types.input.batch.v1.JobSpec,
      },
      asRun,
    );

    this.run = new CopyRun(
      "copy-run",
      {
        namespace: NAMESPACE,
        runId: config.runId,
        timeoutMinutes: config.timeoutMinutes,
        jobName: JOB_NAME,
        jobUid: this.job.metadata.uid,
        secretName: SECRET_NAME,
        secretUid: this.secret.metadata.uid,
        ...(this.bundle ? { configMapName: this.bundle.configMapName, configMapUid: this.bundle.uid } : {}),
        ...(this.pullSecret ? { pullSecretName: PULL_SECRET_NAME, pullSecretUid: this.pullSecret.metadata.uid } : {}),
        // what the copier copies: the Deployment's image, or in Direct/Proxy that tag in the mode's imagesRepo
        sourceImage: source.sourceRepo.image,
        unschedulableMinutes: config.unschedulableMinutes,
      },
      parent,
    );

    this.outputs = {
      targetImage: config.targetImage,
      sourceImage: source.sourceRepo.image,
      registryPath: source.registryPath,
      deckhouseRelease: release,
      // What the run copies, per group (copy-plan.ts); the Job's result counts them (summary.groups).
      plan,
      // What the Job runs and where its copier comes from (plain: no credential in it).
      copierImage: copierImageOutput(copierImage, this.pullSecret ? PULL_SECRET_NAME : undefined),
      // Where the Job's pod may run (jobNodeSelector, jobTolerations, jobPriorityClassName) and how long it may wait for a node.
      jobPlacement: { ...(placement ?? {}), unschedulableMinutes: config.unschedulableMinutes },
      runId: this.run.runId,
      status: this.run.status,
      message: this.run.message,
      summary: this.run.summary,
      finishedAt: this.run.finishedAt,
      // What the switch stack reads through its StackReference (components/copy-record.ts).
      copy: pulumi.all([this.run.status, this.run.summary]).apply(([status, summary]) =>
        copyRecordOf({
          status,
          summary,
          runId: config.runId,
          targetImage: config.targetImage,
          sourceImage: source.sourceRepo.image,
          registryPath: source.registryPath,
          updateImages: config.copyUpdateImages,
          deckhouseVersion: release.version,
          securityDatabases: plan.securityDatabases.images > 0,
          releaseChannel: plan.updates.releaseChannel,
        }),
      ),
    };
    this.registerOutputs(this.outputs);
  }
}
