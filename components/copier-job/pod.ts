// The copier's Job as both stages run it in d8-system (the copy Job, the switch's check Job): one hardened
// container named `copier` running `node /opt/images-copier/images-copier.cjs …`, its config Secret's files
// read-only at /config, the copier itself from the bundle's ConfigMap or, without one, from the image (the
// Dockerfile and `publish-image` put it at the same path). Everything here is plain: no credential.
import type { V1Container, V1EnvVar, V1Job, V1KeyToPath, V1PodSpec, V1ResourceRequirements, V1SecurityContext, V1Toleration, V1Volume, V1VolumeMount } from "@kubernetes/client-node";

export const BUNDLE_KEY = "images-copier.cjs";
/** The copier runs as this unprivileged user (the `node` user of the stock Node images). */
export const RUN_AS_USER = 1000;
/** The container whose log carries the copier's lines. */
export const COPIER_CONTAINER = "copier";
/** The cluster's own pull Secret (the vendor's registry), listed first in every copier pod. */
export const DECKHOUSE_PULL_SECRET = "deckhouse-registry";

/** The ConfigMap carrying a copier bundle is named by the bundle's digest: the Job's spec names the exact build. */
export function bundleConfigMapName(sha256Hex: string, base = "images-copier"): string {
  return `${base}-bundle-${sha256Hex.slice(0, 12)}`;
}

export const containerSecurityContext: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS_USER,
  runAsGroup: RUN_AS_USER,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

export interface CopierPodSpec {
  image: string;
  /** The copier's arguments (`copy …`, `check …`). */
  args: string[];
  /** After HOME and NODE_ENV (e.g. the proxy variables as secretKeyRefs). */
  env?: V1EnvVar[];
  resources: V1ResourceRequirements;
  /** The Secret mounted at /config (mode 0400), and which of its keys become files there. */
  configSecret: string;
  configFiles: string[];
  /** The ConfigMap with the bundled copier; absent when the image holds the copier. */
  bundleConfigMap?: string;
  /** A pull Secret for the copier image, after deckhouse-registry. */
  pullSecret?: string;
  tmpSizeLimit: string;
  /** More of the copier's mounts and the pod's volumes, after /tmp. */
  mounts?: V1VolumeMount[];
  volumes?: V1Volume[];
  initContainers?: V1Container[];
  /** Where the pod may run (stack config jobNodeSelector, jobTolerations, jobPriorityClassName). */
  placement?: PodPlacement;
}

/** Where a copier pod may run and how it competes for room: the stack's jobNodeSelector, jobTolerations, jobPriorityClassName. */
export interface PodPlacement {
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  priorityClassName?: string;
}

/** The placement the stack config asks for; undefined when it asks for none (the pod spec stays as before). */
export function podPlacementOf(config: { jobNodeSelector?: Record<string, string>; jobTolerations?: V1Toleration[]; jobPriorityClassName?: string }): PodPlacement | undefined {
  const placement: PodPlacement = {
    ...(config.jobNodeSelector && Object.keys(config.jobNodeSelector).length > 0 ? { nodeSelector: { ...config.jobNodeSelector } } : {}),
    ...(config.jobTolerations && config.jobTolerations.length > 0 ? { tolerations: config.jobTolerations.map((t) => ({ ...t })) } : {}),
    ...(config.jobPriorityClassName ? { priorityClassName: config.jobPriorityClassName } : {}),
  };
  return Object.keys(placement).length > 0 ? placement : undefined;
}

/** The preview's words for a placement. */
export function describePlacement(placement: PodPlacement | undefined, what: string, unschedulableMinutes: number): string {
  const parts = placement
    ? [
        ...(placement.nodeSelector ? [`nodeSelector ${JSON.stringify(placement.nodeSelector)}`] : []),
        ...(placement.tolerations ? [`tolerations ${JSON.stringify(placement.tolerations)}`] : []),
        ...(placement.priorityClassName ? [`priorityClassName ${placement.priorityClassName}`] : []),
      ]
    : [];
  const where = parts.length > 0 ? parts.join(", ") : "no nodeSelector, tolerations or priorityClassName (jobNodeSelector, jobTolerations, jobPriorityClassName)";
  return `images-copier: ${what}'s pod: ${where}; the run fails when the scheduler cannot place it for ${unschedulableMinutes} minute${unschedulableMinutes === 1 ? "" : "s"} (unschedulableMinutes)`;
}

export function copierPodSpec(spec: CopierPodSpec): V1PodSpec {
  const fromConfigMap = spec.bundleConfigMap !== undefined;
  const copier: V1Container = {
    name: COPIER_CONTAINER,
    image: spec.image,
    imagePullPolicy: "IfNotPresent",
    command: ["node", `/opt/images-copier/${BUNDLE_KEY}`, ...spec.args],
    env: [{ name: "HOME", value: "/tmp" }, { name: "NODE_ENV", value: "production" }, ...(spec.env ?? [])],
    securityContext: containerSecurityContext,
    resources: spec.resources,
    volumeMounts: [
      { name: "config", mountPath: "/config", readOnly: true },
      // Without the ConfigMap the image's own copier at the same path runs.
      ...(fromConfigMap ? [{ name: "copier", mountPath: "/opt/images-copier", readOnly: true }] : []),
      { name: "tmp", mountPath: "/tmp" },
      ...(spec.mounts ?? []),
    ],
  };
  const items: V1KeyToPath[] = spec.configFiles.map((key) => ({ key, path: key }));
  return {
    restartPolicy: "Never",
    imagePullSecrets: [{ name: DECKHOUSE_PULL_SECRET }, ...(spec.pullSecret ? [{ name: spec.pullSecret }] : [])],
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, fsGroup: RUN_AS_USER, seccompProfile: { type: "RuntimeDefault" } },
    ...(spec.placement?.nodeSelector ? { nodeSelector: { ...spec.placement.nodeSelector } } : {}),
    ...(spec.placement?.tolerations ? { tolerations: spec.placement.tolerations.map((t) => ({ ...t })) } : {}),
    ...(spec.placement?.priorityClassName ? { priorityClassName: spec.placement.priorityClassName } : {}),
    ...(spec.initContainers ? { initContainers: spec.initContainers } : {}),
    containers: [copier],
    volumes: [
      { name: "config", secret: { secretName: spec.configSecret, defaultMode: 0o400, items } },
      ...(fromConfigMap ? [{ name: "copier", configMap: { name: spec.bundleConfigMap!, defaultMode: 0o444 } }] : []),
      { name: "tmp", emptyDir: { sizeLimit: spec.tmpSizeLimit } },
      ...(spec.volumes ?? []),
    ],
  };
}

export interface CopierJobSpec {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** The pod template's annotations. */
  podAnnotations?: Record<string, string>;
  /** Kubernetes stops the Job after this long. */
  deadlineSeconds: number;
  pod: V1PodSpec;
}

/** A Job that runs its pod once (no retry: `backoffLimit: 0`). */
export function copierJob(spec: CopierJobSpec): V1Job {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: spec.name, namespace: spec.namespace, labels: { ...spec.labels }, ...(spec.annotations ? { annotations: spec.annotations } : {}) },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: spec.deadlineSeconds,
      template: {
        metadata: { labels: { ...spec.labels }, ...(spec.podAnnotations ? { annotations: spec.podAnnotations } : {}) },
        spec: spec.pod,
      },
    },
  };
}
