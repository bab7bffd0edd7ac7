// The objects of the switch's check from inside the cluster (`checkFrom: cluster`), for a target registry only the
// cluster reaches. They are a run of the copier as the copy stack's are (../copier-job/): the Secret
// `images-copier-check-config` (the target's access as the copier's dest-repo.json, and the deckhouse container's
// proxy values), the bundled copier's ConfigMap unless the copier image holds it, a pull Secret for a copier image
// in the target registry, and the Job `images-copier-check` running `images-copier check`, hardened as the copy Job
// and taking the same way out of the cluster (the proxy variables, as secretKeyRefs). The Job's spec holds no
// credential; the run key covers it and what the check expects, so any change of the check replaces all of them.
import type { V1EnvVar, V1Job } from "@kubernetes/client-node";
import { encodeBase64 } from "../kube";
import { bundleConfigMapName, copierJob, copierPodSpec, type PodPlacement } from "../copier-job/pod";
import { splitProxyEnv } from "../copier-job/proxy-env";
import { buildPullSecretData } from "../copier-job/pull-secret";
import { runKeyOf } from "../copier-job/run-objects";
import type { RegistryExpectations } from "./registry-checks";

export const CHECK_NAME = "images-copier-check";
export const CHECK_SECRET_NAME = "images-copier-check-config";
export const CHECK_PULL_SECRET_NAME = "images-copier-check-registry";
/** Ours, never `heritage: deckhouse` (see ../copy/manifests.ts LABELS). */
export const CHECK_LABELS = { "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier-check" } as const;
/** The copier reads the target's access from this file of its config dir. */
const DEST_REPO_KEY = "dest-repo.json";

export interface CheckRunSpec {
  namespace: string;
  expectations: RegistryExpectations;
  /** The image the Job runs (pinned by digest when it is in the target registry). */
  copierImage: string;
  /** The image is in the target registry: pulled with the check's own pull Secret. */
  pullFromTarget: boolean;
  /** sha256 (hex) of the bundled copier for the ConfigMap; absent when the image holds the copier. */
  bundleSha256?: string;
  /** The copier's dest-repo.json: the target image and its registry's access. */
  target: { username: string; password: string; insecure: boolean; image: string; ca?: string };
  /** The deckhouse container's proxy variables (literal values may hold a password). */
  proxyEnv: V1EnvVar[];
  timeoutSeconds: number;
  /** jobNodeSelector, jobTolerations, jobPriorityClassName. */
  placement?: PodPlacement;
}

export interface CheckRun {
  /** The Job, without the run key and the objects' uids (withRunObjects adds them). */
  job: V1Job;
  runKey: string;
  /** The config Secret's data (base64; credentials: a Pulumi secret wherever it goes). */
  secretData: Record<string, string>;
  bundleConfigMap?: string;
  /** The pull Secret's data (base64 .dockerconfigjson), when the image is pulled from the target registry. */
  pullSecretData?: Record<string, string>;
}

export function checkArgs(references: string[]): string[] {
  return ["check", "--config-dir", "/config", ...references.flatMap((r) => ["--image", r])];
}

export function buildCheckRun(spec: CheckRunSpec): CheckRun {
  const proxy = splitProxyEnv(spec.proxyEnv, CHECK_SECRET_NAME);
  const bundleConfigMap = spec.bundleSha256 === undefined ? undefined : bundleConfigMapName(spec.bundleSha256, CHECK_NAME);
  const job = copierJob({
    name: CHECK_NAME,
    namespace: spec.namespace,
    labels: CHECK_LABELS,
    deadlineSeconds: spec.timeoutSeconds,
    pod: copierPodSpec({
      image: spec.copierImage,
      args: checkArgs(spec.expectations.references),
      env: proxy.jobEnv,
      resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
      configSecret: CHECK_SECRET_NAME,
      configFiles: [DEST_REPO_KEY],
      bundleConfigMap,
      pullSecret: spec.pullFromTarget ? CHECK_PULL_SECRET_NAME : undefined,
      placement: spec.placement,
      tmpSizeLimit: "16Mi",
    }),
  });
  const secretData: Record<string, string> = { [DEST_REPO_KEY]: encodeBase64(JSON.stringify(spec.target)) };
  for (const [key, value] of Object.entries(proxy.secretValues)) secretData[key] = encodeBase64(value);
  return {
    job,
    // What the Job runs and what its verdict must show: a change of either is another check.
    runKey: runKeyOf({ job, expectations: spec.expectations }),
    secretData,
    ...(bundleConfigMap ? { bundleConfigMap } : {}),
    ...(spec.pullFromTarget ? { pullSecretData: buildPullSecretData(spec.target) } : {}),
  };
}
