// The copy stage: reads the cluster's registry access and current Deckhouse image, renders the copy run's
// Secret, ConfigMap and Job, and hands them (as one Pulumi secret) to the CopyRun resource that runs and waits.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { CopyStageConfig } from "../../stack-config";
import { loadCopierBundle } from "./copier-bundle";
import { buildCopyRunManifests, describeCopyRun, NAMESPACE } from "./manifests";
import { CopyRun } from "./run";
import { readImagesFile } from "./images-file";
import { deckhouseProxyEnv } from "./proxy-env";
import type { KubeAccess } from "../kube";
import { deckhouseImageOf, sourceRepoConfig, type RepoConfigJson } from "./registry-credentials";

export interface CopyStageOptions extends pulumi.ComponentResourceOptions {
  /** The bundled copier's text; loaded from dist/images-copier.cjs when not given (unused with `copierBundled`). */
  copierBundle?: string;
}

export class CopyStage extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Input<unknown>>;
  readonly run: CopyRun;

  constructor(name: string, config: CopyStageConfig, opts: CopyStageOptions = {}) {
    const { copierBundle, ...componentOpts } = opts;
    // Local inputs are read and validated before anything is registered, so bad input declares nothing.
    // With `copierBundled` the copier image carries the copier itself: no bundle, no ConfigMap.
    const bundle = config.copierBundled ? undefined : (copierBundle ?? loadCopierBundle());
    const images = config.imagesFile ? readImagesFile(config.imagesFile) : undefined;
    super("images-copier:index:CopyStage", name, {}, componentOpts);

    const registrySecret = k8s.core.v1.Secret.get("deckhouse-registry", `${NAMESPACE}/deckhouse-registry`, { parent: this });
    const deckhouse = k8s.apps.v1.Deployment.get("deckhouse", `${NAMESPACE}/deckhouse`, { parent: this });
    const deckhouseImage = deckhouse.spec.apply((spec) => deckhouseImageOf({ spec }));
    const proxyEnv = deckhouse.spec.apply((spec) => deckhouseProxyEnv(spec));

    const target: RepoConfigJson = {
      username: config.targetUsername,
      password: config.targetPassword,
      insecure: config.targetInsecure,
      image: config.targetImage,
      ...(config.targetCA ? { ca: config.targetCA } : {}),
    };
    const manifests = pulumi.secret(
      pulumi.all([registrySecret.data, deckhouseImage, proxyEnv]).apply(([data, image, proxy]) =>
        buildCopyRunManifests({
          namespace: NAMESPACE,
          runId: config.runId,
          copierImage: config.copierImage,
          deckhouseImage: image,
          concurrency: config.concurrency,
          withUpdateImages: config.copyUpdateImages,
          uploadChunkMiB: config.uploadChunkMiB,
          target,
          source: sourceRepoConfig(data, image),
          images,
          copierBundle: bundle,
          proxyEnv: proxy,
        }),
      ),
    );

    // Everything the run will do except the credentials, as plain values: `pulumi preview` shows it unmasked.
    // Only images, the command, key names and sizes are copied out of the secret manifests, so unsecret is safe.
    const plan = pulumi.unsecret(manifests.apply((m) => describeCopyRun(m, config.timeoutMinutes, config.targetImage, config.concurrency)));

    const kubeConfig = new pulumi.Config("kubernetes");
    const kube: KubeAccess = { kubeconfig: kubeConfig.get("kubeconfig"), context: kubeConfig.get("context") };
    this.run = new CopyRun(
      "copy-images",
      {
        namespace: NAMESPACE,
        runId: config.runId,
        timeoutMinutes: config.timeoutMinutes,
        manifests,
        plan,
        ...(kube.kubeconfig || kube.context ? { kube: pulumi.secret(kube) } : {}),
      },
      { parent: this },
    );

    this.outputs = {
      targetImage: config.targetImage,
      sourceImage: deckhouseImage,
      plan: this.run.plan,
      runId: this.run.runId,
      status: this.run.status,
      message: this.run.message,
      summary: this.run.summary,
      finishedAt: this.run.finishedAt,
      // What the switch stack reads through its StackReference: the copier exits 0 only when every image is in
      // the target and its digest verified, so a succeeded run with no failed image is a verified copy.
      copy: pulumi.all([this.run.status, this.run.summary]).apply(([status, summary]) => ({
        status,
        targetImage: config.targetImage,
        verified: status === "succeeded" && summary !== undefined && summary.failed === 0,
        runId: config.runId,
        ...(summary
          ? { images: summary.images, copied: summary.copied, skipped: summary.skipped, bytes: summary.bytes, durationMs: summary.durationSeconds * 1000 }
          : {}),
      })),
    };
    this.registerOutputs(this.outputs);
  }
}
