// The Kubernetes objects of one copy run, built with typed code: the Secret the copier reads at /config, the
// ConfigMap carrying the bundled copier, and the hardened Job `copy-images` (names and labels as Deckhouse had them).
import type { V1ConfigMap, V1Container, V1EnvVar, V1Job, V1Secret, V1SecurityContext } from "@kubernetes/client-node";
import { isProxyVariable } from "./proxy-env";
import type { RepoConfigJson } from "./registry-credentials";

export const NAMESPACE = "d8-system";
export const SECRET_NAME = "images-copier-config";
export const CONFIG_MAP_NAME = "images-copier-bundle";
export const JOB_NAME = "copy-images";
export const BUNDLE_KEY = "images-copier.cjs";
export const RUN_ID_ANNOTATION = "images-copier.deckhouse.io/run-id";
export const LABELS = { heritage: "deckhouse", app: "d8-images-copier" } as const;
/** The copier runs as this unprivileged user (the `node` user of the stock Node images). */
export const RUN_AS_USER = 1000;

export interface CopyRunSpec {
  namespace: string;
  runId: string;
  copierImage: string;
  /** The current Deckhouse image: its init container copies the release's image list. */
  deckhouseImage: string;
  concurrency: number;
  /** Adds `--with-update-images`: the release-channel and install sub-repositories are copied too. */
  withUpdateImages?: boolean;
  /** Adds `--chunk-size`: chunked uploads of this many MiB from the start. */
  uploadChunkMiB?: number;
  target: RepoConfigJson;
  source: RepoConfigJson;
  /** Set when the stack's `imagesFile` replaces the release's own list. */
  images?: Record<string, Record<string, string>>;
  /** The bundled copier shipped in a ConfigMap; undefined when `copierImage` carries it (the Dockerfile's image). */
  copierBundle?: string;
  /** HTTP_PROXY / HTTPS_PROXY / NO_PROXY of the deckhouse container, passed on to the copier. */
  proxyEnv?: V1EnvVar[];
}

export interface CopyRunManifests {
  secret: V1Secret;
  /** Absent when the copier image brings its own copier (`copierBundled`). */
  configMap?: V1ConfigMap;
  job: V1Job;
}

/** Kubernetes stops the Job a little after Pulumi gives up waiting, so a forgotten run cannot go on forever. */
export const JOB_DEADLINE_SLACK_SECONDS = 60;

export function withActiveDeadline(job: V1Job, timeoutMinutes: number): V1Job {
  return { ...job, spec: { ...job.spec!, activeDeadlineSeconds: timeoutMinutes * 60 + JOB_DEADLINE_SLACK_SECONDS } };
}

/** What a run will do, without any credential: shown as plain outputs so `pulumi preview` is readable. */
export interface CopyRunPlan {
  namespace: string;
  jobName: string;
  runId: string;
  copierImage: string;
  /** The image of the init container that lists the release's images; absent with `imagesFile`. */
  initImage?: string;
  command: string[];
  secretName: string;
  secretKeys: string[];
  /** Name and size of the ConfigMap carrying the copier; absent when the copier image brings its own. */
  copierConfigMap?: { name: string; bytes: number };
  targetImage?: string;
  concurrency?: number;
  activeDeadlineSeconds: number;
  /** Names of the proxy variables the copier inherits from the deckhouse container (values stay secret). */
  proxyEnv?: string[];
}

export function describeCopyRun(manifests: CopyRunManifests, timeoutMinutes: number, targetImage?: string, concurrency?: number): CopyRunPlan {
  const pod = manifests.job.spec?.template.spec;
  const copier = pod?.containers[0];
  const init = pod?.initContainers?.[0];
  const bundle = manifests.configMap?.data?.[BUNDLE_KEY];
  const proxyNames = (copier?.env ?? []).map((e) => e.name).filter(isProxyVariable);
  return {
    namespace: manifests.job.metadata?.namespace ?? NAMESPACE,
    jobName: manifests.job.metadata?.name ?? JOB_NAME,
    runId: manifests.job.metadata?.annotations?.[RUN_ID_ANNOTATION] ?? "",
    copierImage: copier?.image ?? "",
    ...(init?.image ? { initImage: init.image } : {}),
    command: [...(copier?.command ?? []), ...(copier?.args ?? [])],
    secretName: manifests.secret.metadata?.name ?? SECRET_NAME,
    secretKeys: Object.keys(manifests.secret.data ?? {}).sort(),
    ...(manifests.configMap ? { copierConfigMap: { name: manifests.configMap.metadata?.name ?? CONFIG_MAP_NAME, bytes: Buffer.byteLength(bundle ?? "") } } : {}),
    ...(targetImage ? { targetImage } : {}),
    ...(concurrency ? { concurrency } : {}),
    activeDeadlineSeconds: timeoutMinutes * 60 + JOB_DEADLINE_SLACK_SECONDS,
    ...(proxyNames.length > 0 ? { proxyEnv: proxyNames } : {}),
  };
}

const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

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

const resources = {
  requests: { cpu: "100m", memory: "256Mi", "ephemeral-storage": "64Mi" },
  limits: { cpu: "2", memory: "1Gi", "ephemeral-storage": "256Mi" },
};

/** Lists the release's images from inside the running Deckhouse image (newer releases: digests; older: tags). */
export const IMAGES_LIST_SCRIPT =
  "cp /deckhouse/modules/images_digests.json /images/images.json 2>/dev/null || cp /deckhouse/modules/images_tags.json /images/images.json";

export function buildCopyRunManifests(spec: CopyRunSpec): CopyRunManifests {
  const metadata = (name: string) => ({
    name,
    namespace: spec.namespace,
    labels: { ...LABELS },
    annotations: { [RUN_ID_ANNOTATION]: spec.runId },
  });

  const secretData: Record<string, string> = {
    "dest-repo.json": base64(JSON.stringify(spec.target)),
    "d8-repo.json": base64(JSON.stringify(spec.source)),
  };
  if (spec.images) secretData["d8-images.json"] = base64(JSON.stringify(spec.images));

  const listFromRelease = spec.images === undefined;
  const fromConfigMap = spec.copierBundle !== undefined;
  const command = ["node", `/opt/images-copier/${BUNDLE_KEY}`, "copy", "--config-dir", "/config"];
  if (listFromRelease) command.push("--images", "/images/images.json");
  command.push("--concurrency", String(spec.concurrency));
  if (spec.withUpdateImages) command.push("--with-update-images");
  if (spec.uploadChunkMiB) command.push("--chunk-size", String(spec.uploadChunkMiB));

  const copier: V1Container = {
    name: "copier",
    image: spec.copierImage,
    imagePullPolicy: "IfNotPresent",
    command,
    env: [
      { name: "HOME", value: "/tmp" },
      { name: "NODE_ENV", value: "production" },
      ...(spec.proxyEnv ?? []),
    ],
    securityContext: containerSecurityContext,
    resources,
    volumeMounts: [
      { name: "config", mountPath: "/config", readOnly: true },
      // Without the ConfigMap the image's own copier at the same path runs (the Dockerfile puts it there).
      ...(fromConfigMap ? [{ name: "copier", mountPath: "/opt/images-copier", readOnly: true }] : []),
      { name: "tmp", mountPath: "/tmp" },
      ...(listFromRelease ? [{ name: "images", mountPath: "/images", readOnly: true }] : []),
    ],
  };
  const imagesList: V1Container = {
    name: "images-list",
    image: spec.deckhouseImage,
    imagePullPolicy: "IfNotPresent",
    command: ["sh", "-c", IMAGES_LIST_SCRIPT],
    securityContext: containerSecurityContext,
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "200m", memory: "64Mi" } },
    volumeMounts: [{ name: "images", mountPath: "/images" }],
  };

  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: metadata(JOB_NAME),
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { ...LABELS } },
        spec: {
          restartPolicy: "Never",
          imagePullSecrets: [{ name: "deckhouse-registry" }],
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RUN_AS_USER,
            runAsGroup: RUN_AS_USER,
            fsGroup: RUN_AS_USER,
            seccompProfile: { type: "RuntimeDefault" },
          },
          ...(listFromRelease ? { initContainers: [imagesList] } : {}),
          containers: [copier],
          volumes: [
            { name: "config", secret: { secretName: SECRET_NAME, defaultMode: 0o400 } },
            ...(fromConfigMap ? [{ name: "copier", configMap: { name: CONFIG_MAP_NAME, defaultMode: 0o444 } }] : []),
            { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
            ...(listFromRelease ? [{ name: "images", emptyDir: { sizeLimit: "16Mi" } }] : []),
          ],
        },
      },
    },
  };

  return {
    secret: { apiVersion: "v1", kind: "Secret", metadata: metadata(SECRET_NAME), type: "Opaque", data: secretData },
    ...(fromConfigMap ? { configMap: { apiVersion: "v1", kind: "ConfigMap", metadata: metadata(CONFIG_MAP_NAME), data: { [BUNDLE_KEY]: spec.copierBundle! } } } : {}),
    job,
  };
}
