// The objects of one run of the copier (the copy's run, the switch's check): its config Secret, the bundle's
// ConfigMap and the image pull Secret, made for exactly one Job. A run key (a digest of what the run is, with no
// credential in it) sits on each of them, so any change of the run replaces them all; the Job names their uids, so
// replacing any of them replaces the Job. A run's objects are therefore only ever replaced together: after a
// successful run has deleted them, a new Job never starts without its Secret, copier and pull credentials.
import { createHash } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import stringify from "fast-json-stable-stringify";

export const RUN_ID_ANNOTATION = "images-copier.deckhouse.io/run-id";
export const RUN_KEY_ANNOTATION = "images-copier.deckhouse.io/run-key";
/** The uids of the objects a Job was made for (on its pod template): see withRunObjects. */
export const SECRET_UID_ANNOTATION = "images-copier.deckhouse.io/config-uid";
export const BUNDLE_UID_ANNOTATION = "images-copier.deckhouse.io/bundle-uid";
export const PULL_SECRET_UID_ANNOTATION = "images-copier.deckhouse.io/pull-secret-uid";

/** The run key: sha256 over canonical JSON (key order does not count) of what defines the run, e.g. its Job. */
export function runKeyOf(run: unknown): string {
  return `sha256:${createHash("sha256").update(stringify(run)).digest("hex")}`;
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
 * The Job with its run key and the uids of the Secret, ConfigMap and pull Secret it was made for. The uids may be
 * values still to come (Pulumi outputs, unknown in a preview): they are only placed, so the rest of the Job stays known.
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

/** Metadata of a run's Secret, ConfigMap and pull Secret: the stage's labels, the run key and, when it has one, the run id. */
export function runObjectMetadata(name: string, namespace: string, labels: Record<string, string>, run: { key: string; id?: string }) {
  return {
    name,
    namespace,
    labels: { ...labels },
    annotations: { ...(run.id !== undefined ? { [RUN_ID_ANNOTATION]: run.id } : {}), [RUN_KEY_ANNOTATION]: run.key },
  };
}
