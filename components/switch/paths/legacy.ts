// The legacy path of the switch, for a cluster whose registry no registry module owns (see ../../registry-mode.ts):
// what Deckhouse's own `change-registry` does. SwitchSnapshot captures the values the switch overwrites (its delete,
// `pulumi destroy`, puts them back), then Secret d8-system/deckhouse-registry is patched, then the Deployment's
// images. Order (dependsOn): SwitchSnapshot -> SecretPatch -> DeploymentPatch; the rollout wait follows `last`.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { SwitchStageConfig } from "../../../stack-config";
import { dockerConfigJson, encodeBase64 } from "../../kube";
import { describeRollback } from "../describe";
import type { Gate } from "../plan";
import { DECKHOUSE_DEPLOYMENT, DECKHOUSE_NAMESPACE, REGISTRY_SECRET } from "../rollback";
import { SwitchSnapshot } from "../snapshot-provider";
import type { DeckhouseUpdates } from "../updates-provider";

/** Field manager of the switch's Server-Side Apply patches (visible in the objects' managedFields). */
export const SWITCH_FIELD_MANAGER = "images-copier-switch";

const PATCH_ANNOTATIONS = {
  "pulumi.com/patchForce": "true",
  "pulumi.com/patchFieldManager": SWITCH_FIELD_MANAGER,
};

export interface LegacyPathArgs {
  config: SwitchStageConfig;
  gate: Gate;
  /** The release channel's resource: the snapshot comes after it, so destroy restores the registry first. */
  updates: DeckhouseUpdates;
  timeoutSeconds: number;
}

export function declareLegacyPath(name: string, args: LegacyPathArgs, parent: pulumi.Resource): { last: pulumi.Resource; outputs: Record<string, pulumi.Input<unknown>> } {
  const { config, gate, updates, timeoutSeconds } = args;
  const { plan } = gate;

  // Captured before the patches; on destroy deleted after them (restoring the registry) and before `updates`.
  const snapshot = new SwitchSnapshot(
    `${name}-rollback`,
    {
      images: plan.rollback.images,
      secret: pulumi.secret(gate.secretCapture),
      oldRegistry: plan.sourceRepository,
      secretRestorable: plan.rollback.secretRestorable,
      rolloutTimeoutSeconds: timeoutSeconds,
    },
    { parent, dependsOn: [updates] },
  );

  // The Kubernetes provider marks a Secret's whole `data` secret, so the preview masks it; the `plan` output
  // names what is written.
  const data: Record<string, string> = { ".dockerconfigjson": encodeBase64(dockerConfigJson(plan.targetRegistry, config.targetUsername, config.targetPassword)) };
  for (const [key, value] of Object.entries(plan.secretValues)) data[key] = encodeBase64(value);
  const secretPatch = new k8s.core.v1.SecretPatch(
    `${name}-deckhouse-registry`,
    { metadata: { name: REGISTRY_SECRET, namespace: DECKHOUSE_NAMESPACE, annotations: PATCH_ANNOTATIONS }, data: pulumi.secret(data) },
    // The outputs are the live object: `metadata` may hold kubectl's last-applied-configuration with the data.
    { parent, retainOnDelete: true, dependsOn: [snapshot], additionalSecretOutputs: ["data", "metadata"] },
  );

  const pick = (kind: string) => plan.imageChanges.filter((c) => c.kind === kind).map((c) => ({ name: c.name, image: c.to }));
  const initContainers = pick("initContainer");
  const deploymentPatch = new k8s.apps.v1.DeploymentPatch(
    `${name}-deckhouse`,
    {
      metadata: { name: DECKHOUSE_DEPLOYMENT, namespace: DECKHOUSE_NAMESPACE, annotations: { ...PATCH_ANNOTATIONS, "pulumi.com/skipAwait": "true" } },
      spec: { template: { spec: { ...(initContainers.length > 0 ? { initContainers } : {}), containers: pick("container") } } },
    },
    // The Secret goes first: the new Deckhouse pod pulls from the new registry with the new credentials.
    // The outputs are the live Deployment: the deckhouse container's env holds proxy URLs with passwords.
    { parent, retainOnDelete: true, dependsOn: [snapshot, secretPatch], additionalSecretOutputs: ["spec", "metadata"] },
  );

  const deckhouse = plan.imageChanges.find((c) => c.kind === "container" && c.name === "deckhouse");
  return {
    last: deploymentPatch,
    outputs: {
      deckhouseImage: deckhouse && { from: deckhouse.from, to: deckhouse.to },
      imageChanges: plan.imageChanges,
      secretKeys: plan.secretKeys,
      oldRegistry: snapshot.oldRegistry,
      rollbackCapturedAt: snapshot.capturedAt,
      rollbackDeckhouseImage: snapshot.images.apply((i) => i.containers.find((c) => c.name === "deckhouse")?.image),
      rollback: pulumi
        .all([snapshot.images, snapshot.oldRegistry, snapshot.secretRestorable, updates.mode, updates.channel])
        .apply(([images, oldRegistry, restorable, mode, channel]) => describeRollback(images, oldRegistry, restorable !== false, mode === "disable" ? (channel ?? undefined) : undefined)),
    },
  };
}
