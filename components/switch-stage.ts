// STUB, replaced by the switch-stage work (issue 5).
import * as pulumi from "@pulumi/pulumi";
import type { SwitchStageConfig } from "../stack-config";

export class SwitchStage extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Input<unknown>>;
  constructor(name: string, config: SwitchStageConfig, opts?: pulumi.ComponentResourceOptions) {
    super("images-copier:index:SwitchStage", name, {}, opts);
    this.outputs = { targetImage: config.targetImage };
    this.registerOutputs(this.outputs);
  }
}
