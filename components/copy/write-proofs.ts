// The copy stack's creates in d8-system, as the gate proves them (../kube/write-proof.ts): its Secret, pull Secret,
// the bundle's ConfigMap and the Job, with the names, labels and run key they are declared with. The Secrets and the
// ConfigMap go without their data (admission and RBAC judge the object, not the payload; the credentials and the
// 0.5 MB bundle stay out of an extra request); the Job goes whole, with placeholders for the uids it will name.
import type { V1Job } from "@kubernetes/client-node";
import { apiPath } from "../kube";
import type { ProposedWrite } from "../kube/write-proof";
import { PULL_SECRET_TYPE } from "../copier-job/pull-secret";
import { runObjectMetadata, withRunObjects } from "../copier-job/run-objects";
import { JOB_NAME, LABELS, NAMESPACE, PULL_SECRET_NAME, SECRET_NAME } from "./manifests";

export interface CopyRunObjects {
  jobBase: V1Job;
  runKey: string;
  run: { key: string; id: string };
  bundleName?: string;
}

/** Stands in for the uids of objects that do not exist yet (a dry run stores nothing). */
const DRY_RUN_UID = "00000000-0000-0000-0000-000000000000";

export function copyWrites(objects: CopyRunObjects, pullSecret: boolean): ProposedWrite[] {
  const create = (kind: string, resource: string, name: string, body: Record<string, unknown>): ProposedWrite => ({
    object: `${kind} ${NAMESPACE}/${name}`,
    verb: "create",
    path: apiPath({ apiVersion: kind === "Job" ? "batch/v1" : "v1", resource, namespace: NAMESPACE }),
    body: { apiVersion: kind === "Job" ? "batch/v1" : "v1", kind, ...body },
  });
  const metadata = (name: string) => runObjectMetadata(name, NAMESPACE, LABELS, objects.run);
  const writes = [create("Secret", "secrets", SECRET_NAME, { metadata: metadata(SECRET_NAME), type: "Opaque", immutable: true })];
  if (pullSecret) writes.push(create("Secret", "secrets", PULL_SECRET_NAME, { metadata: metadata(PULL_SECRET_NAME), type: PULL_SECRET_TYPE, immutable: true, data: { ".dockerconfigjson": Buffer.from("{\"auths\":{}}").toString("base64") } }));
  if (objects.bundleName) writes.push(create("ConfigMap", "configmaps", objects.bundleName, { metadata: metadata(objects.bundleName), immutable: true }));
  const job = withRunObjects(objects.jobBase, {
    runKey: objects.runKey,
    secretUid: DRY_RUN_UID,
    ...(objects.bundleName ? { bundleUid: DRY_RUN_UID } : {}),
    ...(pullSecret ? { pullSecretUid: DRY_RUN_UID } : {}),
  });
  writes.push(create("Job", "jobs", JOB_NAME, { metadata: job.metadata, spec: job.spec }));
  return writes;
}
