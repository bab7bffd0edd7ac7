// Declares the check from the cluster (`checkFrom: cluster`) the way the copy stack declares its run:
//
//   Secret images-copier-check-config (Kubernetes; data secret, immutable: the target's access, the proxy values)
//   Secret images-copier-check-registry (Kubernetes dockerconfigjson; data secret; only for a copier image in the target registry)
//     -> CopierBundle (the ConfigMap images-copier-check-bundle-<digest>; absent when the image holds the copier)
//     -> ClusterCheck (runs the Job, judges its verdict; a passed check removes the Job and the objects above)
//
// All of them carry the check's run key (check-job.ts) and the Job names their uids, so they are only ever replaced
// together (delete before replace: fixed names).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CopierBundle } from "../copier-job/bundle";
import type { CopierBundleFile } from "../copier-job/bundle-file";
import { describeCopierImage, type CopierImagePlan } from "../copier-job/image";
import type { SwitchStageConfig } from "../../stack-config";
import { describePlacement, podPlacementOf } from "../copier-job/pod";
import { PULL_SECRET_TYPE } from "../copier-job/pull-secret";
import { runObjectMetadata, withRunObjects } from "../copier-job/run-objects";
import { buildCheckRun, CHECK_LABELS, CHECK_PULL_SECRET_NAME, CHECK_SECRET_NAME, type CheckRunSpec } from "./check-job";
import { ClusterCheck, type ClusterCheckArgs } from "./cluster-check-provider";

export interface CheckDeclaration extends Omit<CheckRunSpec, "copierImage" | "pullFromTarget" | "bundleSha256"> {
  copierImage: CopierImagePlan;
  /** Absent when the image holds the copier (copierBundled, or publish-image's label). */
  bundle?: CopierBundleFile;
  description: string;
  unschedulableMinutes: number;
}

/** Where the check's pod may run, from the stack config (the copy Job's keys). */
export function checkJobPlacement(config: SwitchStageConfig): Pick<CheckDeclaration, "placement" | "unschedulableMinutes"> {
  return { placement: podPlacementOf(config), unschedulableMinutes: config.unschedulableMinutes };
}

export function declareClusterCheck(name: string, args: CheckDeclaration, parent: pulumi.Resource): ClusterCheck {
  const { namespace, copierImage, bundle } = args;
  const run = buildCheckRun({ ...args, copierImage: copierImage.image, pullFromTarget: copierImage.inTargetRegistry, bundleSha256: bundle?.sha256 });
  const key = { key: run.runKey };
  // Fixed names: a new check deletes the old objects first. The objects of a check are never updated in place.
  const asRun = { parent, deleteBeforeReplace: true, replaceOnChanges: ["*"] };

  const secret = new k8s.core.v1.Secret(
    `${name}-config`,
    { metadata: runObjectMetadata(CHECK_SECRET_NAME, namespace, CHECK_LABELS, key), type: "Opaque", immutable: true, data: pulumi.secret(run.secretData) },
    asRun,
  );
  const pullSecret = run.pullSecretData
    ? new k8s.core.v1.Secret(
        `${name}-registry`,
        { metadata: runObjectMetadata(CHECK_PULL_SECRET_NAME, namespace, CHECK_LABELS, key), type: PULL_SECRET_TYPE, immutable: true, data: pulumi.secret(run.pullSecretData) },
        asRun,
      )
    : undefined;
  if (copierImage.inTargetRegistry || copierImage.copier !== "configmap") {
    pulumi.log.info(describeCopierImage(copierImage, pullSecret ? CHECK_PULL_SECRET_NAME : undefined, "the check Job"), parent);
  }
  if (args.placement) pulumi.log.info(describePlacement(args.placement, "the check Job", args.unschedulableMinutes), parent);
  const configMap =
    bundle && run.bundleConfigMap
      ? new CopierBundle(
          `${name}-bundle`,
          { namespace, configMapName: run.bundleConfigMap, path: bundle.path, sha256: bundle.sha256, bytes: bundle.bytes, labels: { ...CHECK_LABELS }, runKey: run.runKey, secretUid: secret.metadata.uid },
          { parent },
        )
      : undefined;

  const objects: ClusterCheckArgs["objects"] = [
    { resource: "secrets", name: CHECK_SECRET_NAME, uid: secret.metadata.uid },
    ...(configMap && run.bundleConfigMap ? [{ resource: "configmaps" as const, name: run.bundleConfigMap, uid: configMap.uid }] : []),
    ...(pullSecret ? [{ resource: "secrets" as const, name: CHECK_PULL_SECRET_NAME, uid: pullSecret.metadata.uid }] : []),
  ];
  // The uids stay outputs inside the Job: unknown in the preview of a new check, while the rest of it shows.
  const job = withRunObjects(run.job, { runKey: run.runKey, secretUid: secret.metadata.uid, bundleUid: configMap?.uid, pullSecretUid: pullSecret?.metadata.uid });
  return new ClusterCheck(
    name,
    { namespace, expectations: args.expectations, job, objects, timeoutSeconds: args.timeoutSeconds, description: args.description, unschedulableMinutes: args.unschedulableMinutes },
    { parent },
  );
}
