// The objects of the switch's check from inside the cluster (`checkFrom: cluster`), for a target registry only the
// cluster reaches: a Secret with the target's access (the copier's dest-repo.json), the copier bundle in a
// ConfigMap unless the copier image carries it, and a short Job running `images-copier check`, hardened as the
// copy Job is and taking the same path out of the cluster (the deckhouse container's proxy variables).
import type { V1ConfigMap, V1EnvVar, V1Job, V1Secret } from "@kubernetes/client-node";
import { BUNDLE_KEY, containerSecurityContext, RUN_AS_USER } from "../copier-job/pod";

export const CHECK_NAME = "images-copier-check";
export const CHECK_BUNDLE_NAME = "images-copier-check-bundle";
export const CHECK_LABELS = { heritage: "deckhouse", app: "d8-images-copier-check" } as const;
/** The copier reads the target's access from this file of its config dir. */
const DEST_REPO_KEY = "dest-repo.json";
/** The copier's container name, the one whose log the Job waiter reads. */
export const CHECK_CONTAINER = "copier";

export interface CheckJobSpec {
  namespace: string;
  copierImage: string;
  /** The copier as one file; undefined when `copierImage` carries it (copierBundled). */
  bundle?: string;
  /** The copier's dest-repo.json: the target image and its registry's access. */
  target: { username: string; password: string; insecure: boolean; image: string; ca?: string };
  references: string[];
  proxyEnv: V1EnvVar[];
  timeoutSeconds: number;
}

export interface CheckManifests {
  secret: V1Secret;
  configMap?: V1ConfigMap;
  job: V1Job;
}

export function checkCommand(references: string[]): string[] {
  return ["node", `/opt/images-copier/${BUNDLE_KEY}`, "check", "--config-dir", "/config", ...references.flatMap((r) => ["--image", r])];
}

export function buildCheckManifests(spec: CheckJobSpec): CheckManifests {
  const metadata = (name: string) => ({ name, namespace: spec.namespace, labels: { ...CHECK_LABELS } });
  const fromConfigMap = spec.bundle !== undefined;
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: metadata(CHECK_NAME),
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: spec.timeoutSeconds,
      template: {
        metadata: { labels: { ...CHECK_LABELS } },
        spec: {
          restartPolicy: "Never",
          imagePullSecrets: [{ name: "deckhouse-registry" }],
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, fsGroup: RUN_AS_USER, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: CHECK_CONTAINER,
              image: spec.copierImage,
              imagePullPolicy: "IfNotPresent",
              command: checkCommand(spec.references),
              env: [{ name: "HOME", value: "/tmp" }, { name: "NODE_ENV", value: "production" }, ...spec.proxyEnv],
              securityContext: containerSecurityContext,
              resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
              volumeMounts: [
                { name: "config", mountPath: "/config", readOnly: true },
                ...(fromConfigMap ? [{ name: "copier", mountPath: "/opt/images-copier", readOnly: true }] : []),
                { name: "tmp", mountPath: "/tmp" },
              ],
            },
          ],
          volumes: [
            { name: "config", secret: { secretName: CHECK_NAME, defaultMode: 0o400, items: [{ key: DEST_REPO_KEY, path: DEST_REPO_KEY }] } },
            ...(fromConfigMap ? [{ name: "copier", configMap: { name: CHECK_BUNDLE_NAME, defaultMode: 0o444 } }] : []),
            { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
          ],
        },
      },
    },
  };
  const destRepo = Buffer.from(JSON.stringify(spec.target), "utf8").toString("base64");
  return {
    secret: { apiVersion: "v1", kind: "Secret", metadata: metadata(CHECK_NAME), type: "Opaque", data: { [DEST_REPO_KEY]: destRepo } },
    ...(fromConfigMap ? { configMap: { apiVersion: "v1", kind: "ConfigMap", metadata: metadata(CHECK_BUNDLE_NAME), data: { [BUNDLE_KEY]: spec.bundle as string } } } : {}),
    job,
  };
}
