// A dynamic resource holding the values the switch overwrites, captured when it is created (before the Patch
// resources run, which depend on it). Its delete — `pulumi destroy` of the switch stack — puts them back.
// The Patch resources are retainOnDelete, so their own delete never relinquishes fields: the Secret keeps
// `.dockerconfigjson` and every container keeps an image at every moment of a rollback.
import * as pulumi from "@pulumi/pulumi";
import { connectKube, type KubeAccess } from "../kube";
import { restoreRollback } from "./cluster";
import type { RollbackState } from "./rollback";

export interface SnapshotInputs {
  kube: KubeAccess;
  images: RollbackState["deployment"];
  secret: RollbackState["secret"];
  /** `host/path` the cluster pulled from before the switch (for the old-registry pod listing). */
  oldRegistry: string;
  rolloutTimeoutSeconds: number;
}

export interface SnapshotOutputs extends SnapshotInputs {
  capturedAt: string;
}

export const snapshotProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: SnapshotInputs): Promise<pulumi.dynamic.CreateResult> {
    const outs: SnapshotOutputs = { ...inputs, capturedAt: new Date().toISOString() };
    return { id: `${inputs.images.namespace}/${inputs.images.name}`, outs };
  },

  /** Only the access and the timeout can change; the captured values stay those of the first switch. */
  async diff(_id: string, olds: SnapshotOutputs, news: SnapshotInputs): Promise<pulumi.dynamic.DiffResult> {
    const changed = JSON.stringify(olds.kube) !== JSON.stringify(news.kube) || olds.rolloutTimeoutSeconds !== news.rolloutTimeoutSeconds;
    return { changes: changed, replaces: [], deleteBeforeReplace: false };
  },

  async update(_id: string, olds: SnapshotOutputs, news: SnapshotInputs): Promise<pulumi.dynamic.UpdateResult> {
    const outs: SnapshotOutputs = { ...olds, kube: news.kube, rolloutTimeoutSeconds: news.rolloutTimeoutSeconds };
    return { outs };
  },

  async delete(_id: string, props: SnapshotOutputs): Promise<void> {
    const kube = await connectKube(props.kube ?? {});
    try {
      await restoreRollback(kube, { deployment: props.images, secret: props.secret }, { timeoutMs: (props.rolloutTimeoutSeconds ?? 900) * 1000 });
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

  constructor(name: string, args: { [K in keyof SnapshotInputs]: pulumi.Input<SnapshotInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(snapshotProvider, name, { ...args, capturedAt: undefined }, { ...opts, additionalSecretOutputs: ["kube", "secret"] }, "images-copier", "SwitchSnapshot");
  }
}
