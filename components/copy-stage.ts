// STUB, replaced by the copy-stage work (issue 4).
import * as pulumi from "@pulumi/pulumi";
import type { CopyStageConfig } from "../stack-config";

export class CopyStage extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Input<unknown>>;
  constructor(name: string, config: CopyStageConfig, opts?: pulumi.ComponentResourceOptions) {
    super("images-copier:index:CopyStage", name, {}, opts);
    this.outputs = { targetImage: config.targetImage };
    this.registerOutputs(this.outputs);
  }
}
