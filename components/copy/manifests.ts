// The Kubernetes objects of one copy run, built with typed code: the data of the Secret the copier reads at /config,
// and the hardened Job `copy-images` (names as Deckhouse had them, our own labels; the pod as every copier Job has it:
// ../copier-job/pod.ts). Everything in the Job is plain (no credential), so Pulumi may show and store it as it is;
// the credentials live only in the Secret's data.
import type { V1Container, V1EnvVar, V1Job } from "@kubernetes/client-node";
import { containerSecurityContext, copierJob, copierPodSpec, type PodPlacement } from "../copier-job/pod";
import { RUN_ID_ANNOTATION } from "../copier-job/run-objects";
import type { RepoConfigJson } from "./registry-credentials";

export const NAMESPACE = "d8-system";
export const SECRET_NAME = "images-copier-config";
export const JOB_NAME = "copy-images";
/** The run's image pull Secret, for a copier image in the target registry (../copier-job/pull-secret.ts). */
export const PULL_SECRET_NAME = "images-copier-registry";
/** Ours, never `heritage: deckhouse`: Deckhouse (v1.62+) refuses a user who sets that label. */
export const LABELS = { "app.kubernetes.io/managed-by": "images-copier", app: "d8-images-copier" } as const;

/** The files of the Secret, exactly those of Deckhouse's images-copier hook; other keys (proxy values) feed env only. */
export const SECRET_FILES = { target: "dest-repo.json", source: "d8-repo.json", images: "d8-images.json" } as const;
/** The modules to copy (`--with-modules`), read by the program from the cluster's ModuleReleases. */
export const MODULES_FILE = "modules.json";

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
  /** The Secret carries modules.json: adds `--with-modules`. */
  modulesInSecret?: boolean;
  /** Adds `--with-security-databases`. */
  withSecurityDatabases?: boolean;
  /** Adds `--with-release-channel <channel>`. */
  releaseChannel?: string;
  /** The stack's `imagesFile` gave the list: it travels in the Secret and no init container reads the release's. */
  imagesInSecret: boolean;
  /** The ConfigMap carrying the bundled copier; absent when `copierImage` brings its own (the Dockerfile's image). */
  bundleConfigMap?: string;
  /** The proxy variables as the copier container gets them (values are references: see splitProxyEnv). */
  proxyEnv?: V1EnvVar[];
  /** The run's pull Secret for a copier image in the target registry (pull-secret.ts), next to deckhouse-registry. */
  pullSecret?: string;
  /** jobNodeSelector, jobTolerations, jobPriorityClassName. */
  placement?: PodPlacement;
}

export interface CopySecretSpec {
  target: RepoConfigJson;
  source: RepoConfigJson;
  /** Set when the stack's `imagesFile` replaces the release's own list. */
  images?: Record<string, Record<string, string>>;
  /** Literal proxy values, by Secret key (see splitProxyEnv). */
  proxyValues?: Record<string, string>;
  /** The modules to copy, as the copier's `--with-modules` reads them. */
  modules?: Array<{ name: string; version: string; channel: string }>;
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
  if (spec.modules) data[MODULES_FILE] = base64(JSON.stringify(spec.modules));
  for (const [key, value] of Object.entries(spec.proxyValues ?? {})) data[key] = base64(value);
  return data;
}

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
  const args = ["copy", "--config-dir", "/config"];
  if (listFromRelease) args.push("--images", "/images/images.json");
  args.push("--concurrency", String(spec.concurrency));
  if (spec.withUpdateImages) args.push("--with-update-images");
  if (spec.uploadChunkMiB) args.push("--chunk-size", String(spec.uploadChunkMiB));
  if (spec.modulesInSecret) args.push("--with-modules", `/config/${MODULES_FILE}`);
  if (spec.withSecurityDatabases) args.push("--with-security-databases");
  if (spec.releaseChannel) args.push("--with-release-channel", spec.releaseChannel);

  const imagesList: V1Container = {
    name: "images-list",
    image: spec.deckhouseImage,
    imagePullPolicy: "IfNotPresent",
    command: ["sh", "-c", IMAGES_LIST_SCRIPT],
    securityContext: containerSecurityContext,
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "200m", memory: "64Mi" } },
    volumeMounts: [{ name: "images", mountPath: "/images" }],
  };
  const runAnnotation = { [RUN_ID_ANNOTATION]: spec.runId };
  return copierJob({
    name: JOB_NAME,
    namespace: spec.namespace,
    labels: LABELS,
    annotations: {
      ...runAnnotation,
      // The dynamic resource CopyRun waits for the Job (hours, and it must see a failed Job to report it).
      "pulumi.com/skipAwait": "true",
      // A Job left failed or unfinished by an earlier run is replaced by the next `pulumi up`.
      "pulumi.com/replaceUnready": "true",
      // ... and its delete (skipAwait: not waited for) frees the name at once, its Pods going after it: otherwise the
      // provider applies the new Job onto the old one while it still terminates (Foreground, the provider's default),
      // which then disappears under the new run (an interrupted `up` replaced by the next). CopyRun's own delete
      // still waits for the old Pods first (run-provider.ts).
      "pulumi.com/deletionPropagationPolicy": "background",
    },
    podAnnotations: { ...runAnnotation },
    deadlineSeconds: spec.timeoutMinutes * 60 + JOB_DEADLINE_SLACK_SECONDS,
    pod: copierPodSpec({
      image: spec.copierImage,
      args,
      env: spec.proxyEnv,
      resources,
      // /config holds exactly the hook's files; the Secret's proxy keys reach the copier only as env variables.
      configSecret: SECRET_NAME,
      configFiles: [SECRET_FILES.target, SECRET_FILES.source, ...(spec.imagesInSecret ? [SECRET_FILES.images] : []), ...(spec.modulesInSecret ? [MODULES_FILE] : [])],
      bundleConfigMap: spec.bundleConfigMap,
      pullSecret: spec.pullSecret,
      placement: spec.placement,
      tmpSizeLimit: "64Mi",
      ...(listFromRelease
        ? { initContainers: [imagesList], mounts: [{ name: "images", mountPath: "/images", readOnly: true }], volumes: [{ name: "images", emptyDir: { sizeLimit: "16Mi" } }] }
        : {}),
    }),
  });
}
