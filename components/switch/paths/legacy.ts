// The legacy path of the switch, for a cluster whose registry no registry module owns (see ../../registry-mode.ts):
// what Deckhouse's own `change-registry` does. SwitchSnapshot captures the values the switch overwrites (its delete,
// `pulumi destroy`, puts them back), then Secret d8-system/deckhouse-registry is patched, then the Deployment's
// images. Order (dependsOn): SwitchSnapshot -> SecretPatch -> DeploymentPatch; the rollout wait follows `last`.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { SwitchStageConfig } from "../../../stack-config";
import type { KubeAccess } from "../../kube";
import { deckhouseWriterProvider } from "../../kube/deckhouse-writer";
import { describeRollback } from "../describe";
import type { Gate } from "../plan";
import { deckhouseDeploymentPatch, registrySecretPatch } from "../legacy-writes";
import { SwitchSnapshot } from "../snapshot-provider";
import type { DeckhouseUpdates } from "../updates-provider";

export interface LegacyPathArgs {
  config: SwitchStageConfig;
  gate: Gate;
  /** The release channel's resource: the snapshot comes after it, so destroy restores the registry first. */
  updates: DeckhouseUpdates;
  timeoutSeconds: number;
  /** The cluster access the gate used; with `impersonate`, the patches of Deckhouse's objects are sent as that user. */
  access?: KubeAccess;
}

export function declareLegacyPath(name: string, args: LegacyPathArgs, parent: pulumi.Resource): { last: pulumi.Resource; outputs: Record<string, pulumi.Input<unknown>> } {
  const { config, gate, updates, timeoutSeconds, access } = args;
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

  // Deckhouse's own objects are written as `kubeImpersonate` (its admission policy admits no other user).
  const deckhouseWriter = deckhouseWriterProvider(`${name}-deckhouse-writer`, access, parent);

  // The Kubernetes provider marks a Secret's whole `data` secret, so the preview masks it; the `plan` output
  // names what is written.
  const registrySecret = registrySecretPatch(plan, config);
  const secretPatch = new k8s.core.v1.SecretPatch(
    `${name}-deckhouse-registry`,
    { metadata: registrySecret.metadata, data: pulumi.secret(registrySecret.data) },
    // The outputs are the live object: `metadata` may hold kubectl's last-applied-configuration with the data.
    { parent, provider: deckhouseWriter, retainOnDelete: true, dependsOn: [snapshot], additionalSecretOutputs: ["data", "metadata"] },
  );

  const deploymentPatch = new k8s.apps.v1.DeploymentPatch(
    `${name}-deckhouse`,
    deckhouseDeploymentPatch(plan),
    // The Secret goes first: the new Deckhouse pod pulls from the new registry with the new credentials.
    // The outputs are the live Deployment: the deckhouse container's env holds proxy URLs with passwords.
    { parent, provider: deckhouseWriter, retainOnDelete: true, dependsOn: [snapshot, secretPatch], additionalSecretOutputs: ["spec", "metadata"] },
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
