// A dynamic resource holding the values the switch overwrites, captured when it is created (before the Patch
// resources run, which depend on it). Its delete — `pulumi destroy` of the switch stack — puts them back.
// The Patch resources are retainOnDelete, so their own delete never relinquishes fields: the Secret keeps
// `.dockerconfigjson` and every container keeps an image at every moment of a rollback.
// Cluster access comes from the provider's configuration (configure): the current stack config in `pulumi up`, the
// config stored with the last `up` in `pulumi destroy` without `--run-program` (stale-access.ts).
import * as pulumi from "@pulumi/pulumi";
import { configuredAccess, connectKube } from "../kube";
import { restoreRollback } from "./cluster";
import { explainStaleAccess } from "./stale-access";
import type { RollbackState } from "./rollback";

export interface SnapshotInputs {
  /** The images on the vendor's side, as the switch found them or as the copy record names them. */
  images: RollbackState["deployment"];
  secret: RollbackState["secret"];
  /** `host/path` the cluster pulled from before the switch (for the old-registry pod listing). */
  oldRegistry: string;
  /** false when the Secret already pointed at the new registry when captured: destroy then moves nothing back. */
  secretRestorable: boolean;
  rolloutTimeoutSeconds: number;
}

export interface SnapshotOutputs extends SnapshotInputs {
  capturedAt: string;
}

export const snapshotProvider = {
  ...configuredAccess(),

  async create(inputs: SnapshotInputs): Promise<pulumi.dynamic.CreateResult> {
    const outs: SnapshotOutputs = { ...inputs, capturedAt: new Date().toISOString() };
    return { id: `${inputs.images.namespace}/${inputs.images.name}`, outs };
  },

  /**
   * Only the timeout can change; the captured values stay those of the first switch (a later run reads the
   * switched objects). A record from before access came from configure still carries `kube`: rewrite it without.
   */
  async diff(_id: string, olds: SnapshotOutputs & { kube?: unknown }, news: SnapshotInputs): Promise<pulumi.dynamic.DiffResult> {
    const changed = olds.rolloutTimeoutSeconds !== news.rolloutTimeoutSeconds || olds.kube !== undefined;
    return { changes: changed, replaces: [], deleteBeforeReplace: false };
  },

  async update(_id: string, olds: SnapshotOutputs & { kube?: unknown }, news: SnapshotInputs): Promise<pulumi.dynamic.UpdateResult> {
    const { kube: _stale, ...kept } = olds;
    const outs: SnapshotOutputs = { ...kept, rolloutTimeoutSeconds: news.rolloutTimeoutSeconds };
    return { outs };
  },

  async delete(_id: string, props: SnapshotOutputs): Promise<void> {
    if (props.secretRestorable === false) {
      console.log("images-copier: the deckhouse-registry Secret already pointed at the new registry when the switch was captured; nothing of the registry is moved back");
      return;
    }
    const kube = await connectKube(this.access);
    try {
      await restoreRollback(kube, { deployment: props.images, secret: props.secret }, { timeoutMs: (props.rolloutTimeoutSeconds ?? 900) * 1000 });
    } catch (error) {
      throw explainStaleAccess(error, "rollback not started");
    } finally {
      await kube.close();
    }
  },
};

export class SwitchSnapshot extends pulumi.dynamic.Resource {
  declare readonly images: pulumi.Output<RollbackState["deployment"]>;
  declare readonly secret: pulumi.Output<RollbackState["secret"]>;
  declare readonly capturedAt: pulumi.Output<string>;
  declare readonly oldRegistry: pulumi.Output<string>;
  declare readonly secretRestorable: pulumi.Output<boolean>;

  constructor(name: string, args: { [K in keyof SnapshotInputs]: pulumi.Input<SnapshotInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(snapshotProvider, name, { ...args, capturedAt: undefined }, { ...opts, additionalSecretOutputs: ["secret"] }, "images-copier", "SwitchSnapshot");
  }
}
