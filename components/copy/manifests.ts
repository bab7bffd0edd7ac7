// The Kubernetes objects of one copy run, built with typed code: the data of the Secret the copier reads at /config,
// and the hardened Job `copy-images` (names and labels as Deckhouse had them). Everything in the Job is plain (no
// credential), so Pulumi may show and store it as it is; the credentials live only in the Secret's data.
import { createHash } from "node:crypto";
import type { V1Container, V1EnvVar, V1Job, V1KeyToPath, V1SecurityContext } from "@kubernetes/client-node";
import stringify from "fast-json-stable-stringify";
import type { RepoConfigJson } from "./registry-credentials";

export const NAMESPACE = "d8-system";
export const SECRET_NAME = "images-copier-config";
export const JOB_NAME = "copy-images";
export const BUNDLE_KEY = "images-copier.cjs";
export const LABELS = { heritage: "deckhouse", app: "d8-images-copier" } as const;
/** The copier runs as this unprivileged user (the `node` user of the stock Node images). */
export const RUN_AS_USER = 1000;

export const RUN_ID_ANNOTATION = "images-copier.deckhouse.io/run-id";
/** A digest of the Job's spec, carried by the Secret and the copier's ConfigMap: see runKeyOf. */
export const RUN_KEY_ANNOTATION = "images-copier.deckhouse.io/run-key";
/** The uids of the Secret and ConfigMap a Job was made for (on its pod template): see withRunObjects. */
export const SECRET_UID_ANNOTATION = "images-copier.deckhouse.io/config-uid";
export const BUNDLE_UID_ANNOTATION = "images-copier.deckhouse.io/bundle-uid";
/** The uid of the run's image pull Secret, when the copier image is pulled from the target registry. */
export const PULL_SECRET_UID_ANNOTATION = "images-copier.deckhouse.io/pull-secret-uid";
/** The cluster's own pull Secret: the init container runs the Deckhouse image from the current registry. */
export const DECKHOUSE_PULL_SECRET = "deckhouse-registry";

/** The files of the Secret, exactly those of Deckhouse's images-copier hook; other keys (proxy values) feed env only. */
export const SECRET_FILES = { target: "dest-repo.json", source: "d8-repo.json", images: "d8-images.json" } as const;

/** The ConfigMap carrying a copier bundle is named by the bundle's digest: the Job's spec names the exact build. */
export function bundleConfigMapName(sha256Hex: string): string {
  return `images-copier-bundle-${sha256Hex.slice(0, 12)}`;
}

export interface CopyJobSpec {
  namespace: string;
  runId: string;
  copierImage: string;
  /** The current Deckhouse image: its init container copies the release's image list. */
  deckhouseImage: string;
  concurrency: number;
  timeoutMinutes: number;
  /** Adds `--with-update-images`: the release-channel and install sub-repositories are copied too. */
  withUpdateImages?: boolean;
  /** Adds `--chunk-size`: chunked uploads of this many MiB from the start. */
  uploadChunkMiB?: number;
  /** The stack's `imagesFile` gave the list: it travels in the Secret and no init container reads the release's. */
  imagesInSecret: boolean;
  /** The ConfigMap carrying the bundled copier; absent when `copierImage` brings its own (the Dockerfile's image). */
  bundleConfigMap?: string;
  /** The proxy variables as the copier container gets them (values are references: see splitProxyEnv). */
  proxyEnv?: V1EnvVar[];
  /** The run's pull Secret for a copier image in the target registry (pull-secret.ts), next to deckhouse-registry. */
  pullSecret?: string;
}

export interface CopySecretSpec {
  target: RepoConfigJson;
  source: RepoConfigJson;
  /** Set when the stack's `imagesFile` replaces the release's own list. */
  images?: Record<string, Record<string, string>>;
  /** Literal proxy values, by Secret key (see splitProxyEnv). */
  proxyValues?: Record<string, string>;
}

/** Kubernetes stops the Job a little after Pulumi gives up waiting, so a forgotten run cannot go on forever. */
export const JOB_DEADLINE_SLACK_SECONDS = 60;

const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

/** The Secret's data (base64), as Deckhouse's hook enriched it: the target, the source and, when known, the list. */
export function buildSecretData(spec: CopySecretSpec): Record<string, string> {
  const data: Record<string, string> = {
    [SECRET_FILES.target]: base64(JSON.stringify(spec.target)),
    [SECRET_FILES.source]: base64(JSON.stringify(spec.source)),
  };
  if (spec.images) data[SECRET_FILES.images] = base64(JSON.stringify(spec.images));
  for (const [key, value] of Object.entries(spec.proxyValues ?? {})) data[key] = base64(value);
  return data;
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

const resources = {
  requests: { cpu: "100m", memory: "256Mi", "ephemeral-storage": "64Mi" },
  limits: { cpu: "2", memory: "1Gi", "ephemeral-storage": "256Mi" },
};

/** Lists the release's images from inside the running Deckhouse image (newer releases: digests; older: tags). */
export const IMAGES_LIST_SCRIPT =
  "cp /deckhouse/modules/images_digests.json /images/images.json 2>/dev/null || cp /deckhouse/modules/images_tags.json /images/images.json";

/** The Job, without the run key and object uids (withRunObjects adds them once the Secret and ConfigMap exist). */
export function buildCopyJob(spec: CopyJobSpec): V1Job {
  const listFromRelease = !spec.imagesInSecret;
  const fromConfigMap = spec.bundleConfigMap !== undefined;
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
    env: [{ name: "HOME", value: "/tmp" }, { name: "NODE_ENV", value: "production" }, ...(spec.proxyEnv ?? [])],
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
  // /config holds exactly the hook's files; the Secret's proxy keys reach the copier only as env variables.
  const files: V1KeyToPath[] = [SECRET_FILES.target, SECRET_FILES.source, ...(spec.imagesInSecret ? [SECRET_FILES.images] : [])].map((key) => ({ key, path: key }));
  const runAnnotation = { [RUN_ID_ANNOTATION]: spec.runId };

  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: JOB_NAME,
      namespace: spec.namespace,
      labels: { ...LABELS },
      annotations: {
        ...runAnnotation,
        // The dynamic resource CopyRun waits for the Job (hours, and it must see a failed Job to report it).
        "pulumi.com/skipAwait": "true",
        // A Job left failed or unfinished by an earlier run is replaced by the next `pulumi up`.
        "pulumi.com/replaceUnready": "true",
      },
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: spec.timeoutMinutes * 60 + JOB_DEADLINE_SLACK_SECONDS,
      template: {
        metadata: { labels: { ...LABELS }, annotations: { ...runAnnotation } },
        spec: {
          restartPolicy: "Never",
          imagePullSecrets: [{ name: DECKHOUSE_PULL_SECRET }, ...(spec.pullSecret ? [{ name: spec.pullSecret }] : [])],
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
            { name: "config", secret: { secretName: SECRET_NAME, defaultMode: 0o400, items: files } },
            ...(fromConfigMap ? [{ name: "copier", configMap: { name: spec.bundleConfigMap!, defaultMode: 0o444 } }] : []),
            { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
            ...(listFromRelease ? [{ name: "images", emptyDir: { sizeLimit: "16Mi" } }] : []),
          ],
        },
      },
    },
  };
}

/**
 * The run key: sha256 over the Job as buildCopyJob made it (canonical JSON). The Secret, the ConfigMap and the pull
 * Secret carry it, so any change to the Job also replaces them; the Job carries their uids (withRunObjects), so
 * replacing any of them replaces the Job. The objects of a run are therefore always replaced together: after a
 * successful run has deleted them, a new Job never starts without its Secret, copier and pull credentials.
 */
export function runKeyOf(job: V1Job): string {
  return `sha256:${createHash("sha256").update(stringify(job)).digest("hex")}`;
}

export interface RunObjects<Uid = string> {
  runKey: string;
  secretUid: Uid;
  /** Absent when the copier image brings its own copier. */
  bundleUid?: Uid;
  /** Absent when the copier image is not pulled from the target registry. */
  pullSecretUid?: Uid;
}

/**
 * The Job with its run key and the uids of the Secret, ConfigMap and pull Secret it was made for. The uids may be values still to
 * come (Pulumi outputs, unknown in a preview): they are only placed, so the rest of the Job stays known.
 */
export function withRunObjects<Uid = string>(job: V1Job, objects: RunObjects<Uid>): V1Job {
  const template = job.spec!.template;
  return {
    ...job,
    metadata: { ...job.metadata, annotations: { ...job.metadata?.annotations, [RUN_KEY_ANNOTATION]: objects.runKey } },
    spec: {
      ...job.spec!,
      template: {
        ...template,
        metadata: {
          ...template.metadata,
          annotations: {
            ...template.metadata?.annotations,
            [SECRET_UID_ANNOTATION]: objects.secretUid as unknown as string,
            ...(objects.bundleUid !== undefined ? { [BUNDLE_UID_ANNOTATION]: objects.bundleUid as unknown as string } : {}),
            ...(objects.pullSecretUid !== undefined ? { [PULL_SECRET_UID_ANNOTATION]: objects.pullSecretUid as unknown as string } : {}),
          },
        },
      },
    },
  };
}

/** Metadata of the Secret, ConfigMap and pull Secret of a run. */
export function runObjectMetadata(name: string, namespace: string, runId: string, runKey: string) {
  return { name, namespace, labels: { ...LABELS }, annotations: { [RUN_ID_ANNOTATION]: runId, [RUN_KEY_ANNOTATION]: runKey } };
}
