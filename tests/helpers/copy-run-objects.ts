// The Kubernetes provider's part in the copy stack's provider tests: creates a run's Secret, ConfigMap, pull Secret and Job through
// the API (as `pulumi up` would before CopyRun starts), built by the program's own builders, and returns the inputs
// CopyRun gets for them. Creating through the API (not put()) fires the test server's onCreate hooks.
import { createHash } from "node:crypto";
import type { V1EnvVar } from "@kubernetes/client-node";
import { bundleConfigMapName, BUNDLE_KEY, type PodPlacement } from "../../components/copier-job/pod";
import { splitProxyEnv } from "../../components/copier-job/proxy-env";
import { buildPullSecretData, PULL_SECRET_TYPE } from "../../components/copier-job/pull-secret";
import { runKeyOf, runObjectMetadata, withRunObjects } from "../../components/copier-job/run-objects";
import { buildCopyJob, buildSecretData, JOB_NAME, LABELS, NAMESPACE, PULL_SECRET_NAME, SECRET_NAME } from "../../components/copy/manifests";
import type { RepoConfigJson } from "../../components/copy/registry-credentials";
import type { CopyRunInputs } from "../../components/copy/run-provider";
import { apiPath, connectKube } from "../../components/kube";

export interface RunObjectsSpec {
  runId: string;
  timeoutMinutes?: number;
  target: RepoConfigJson;
  source: RepoConfigJson;
  /** The bundled copier's text; null: the copier image brings its own (copierBundled). */
  copierBundle: string | null;
  concurrency?: number;
  images?: Record<string, Record<string, string>>;
  proxyEnv?: V1EnvVar[];
  copierImage?: string;
  /** The copier image is pulled from the target registry: the run's pull Secret, built from `target`. */
  pullSecret?: boolean;
  /** jobNodeSelector, jobTolerations, jobPriorityClassName as the stage passes them. */
  placement?: PodPlacement;
  unschedulableMinutes?: number;
}

export type AppliedRun = CopyRunInputs & { __provider: string };

export async function applyCopyRunObjects(kubeconfigYaml: string, spec: RunObjectsSpec): Promise<AppliedRun> {
  const kube = await connectKube({ kubeconfig: kubeconfigYaml });
  try {
    const proxy = splitProxyEnv(spec.proxyEnv ?? [], SECRET_NAME);
    const bundleName = spec.copierBundle === null ? undefined : bundleConfigMapName(createHash("sha256").update(spec.copierBundle).digest("hex"));
    const timeoutMinutes = spec.timeoutMinutes ?? 5;
    const base = buildCopyJob({
      namespace: NAMESPACE,
      runId: spec.runId,
      copierImage: spec.copierImage ?? "node:20-bookworm-slim",
      deckhouseImage: spec.source.image,
      concurrency: spec.concurrency ?? 4,
      timeoutMinutes,
      imagesInSecret: spec.images !== undefined,
      bundleConfigMap: bundleName,
      proxyEnv: proxy.jobEnv,
      pullSecret: spec.pullSecret ? PULL_SECRET_NAME : undefined,
      placement: spec.placement,
    });
    const runKey = runKeyOf(base);
    type Created = { metadata: { uid: string } };
    const secret = await kube.create<Created>(apiPath({ apiVersion: "v1", resource: "secrets", namespace: NAMESPACE }), {
      apiVersion: "v1",
      kind: "Secret",
      metadata: runObjectMetadata(SECRET_NAME, NAMESPACE, LABELS, { key: runKey, id: spec.runId }),
      type: "Opaque",
      immutable: true,
      data: buildSecretData({ target: spec.target, source: spec.source, images: spec.images, proxyValues: proxy.secretValues }),
    });
    const configMap =
      bundleName === undefined
        ? undefined
        : await kube.create<Created>(apiPath({ apiVersion: "v1", resource: "configmaps", namespace: NAMESPACE }), {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: runObjectMetadata(bundleName, NAMESPACE, LABELS, { key: runKey, id: spec.runId }),
            data: { [BUNDLE_KEY]: spec.copierBundle },
          });
    const pullSecret = !spec.pullSecret
      ? undefined
      : await kube.create<Created>(apiPath({ apiVersion: "v1", resource: "secrets", namespace: NAMESPACE }), {
          apiVersion: "v1",
          kind: "Secret",
          metadata: runObjectMetadata(PULL_SECRET_NAME, NAMESPACE, LABELS, { key: runKey, id: spec.runId }),
          type: PULL_SECRET_TYPE,
          immutable: true,
          data: buildPullSecretData({ image: spec.target.image, username: spec.target.username ?? "", password: spec.target.password ?? "" }),
        });
    const job = await kube.create<Created>(
      apiPath({ apiVersion: "batch/v1", resource: "jobs", namespace: NAMESPACE }),
      withRunObjects(base, { runKey, secretUid: secret.metadata.uid, bundleUid: configMap?.metadata.uid, pullSecretUid: pullSecret?.metadata.uid }),
    );
    return {
      namespace: NAMESPACE,
      runId: spec.runId,
      timeoutMinutes,
      jobName: JOB_NAME,
      jobUid: job.metadata.uid,
      secretName: SECRET_NAME,
      secretUid: secret.metadata.uid,
      ...(bundleName && configMap ? { configMapName: bundleName, configMapUid: configMap.metadata.uid } : {}),
      ...(pullSecret ? { pullSecretName: PULL_SECRET_NAME, pullSecretUid: pullSecret.metadata.uid } : {}),
      sourceImage: spec.source.image,
      ...(spec.unschedulableMinutes !== undefined ? { unschedulableMinutes: spec.unschedulableMinutes } : {}),
      __provider: "serialized-provider-text",
    };
  } finally {
    await kube.close();
  }
}
