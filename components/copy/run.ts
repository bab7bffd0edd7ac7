// `images-copier:index:CopyRun`: waits for the copy Job and records the run's outcome (see run-provider.ts).
import * as pulumi from "@pulumi/pulumi";
import { makeCopyRunProvider, type CopyRunInputs, type CopySummary } from "./run-provider";

const copyRunProvider = makeCopyRunProvider();

export class CopyRun extends pulumi.dynamic.Resource {
  declare readonly status: pulumi.Output<"succeeded" | "failed" | "timeout">;
  declare readonly message: pulumi.Output<string>;
  declare readonly finishedAt: pulumi.Output<string>;
  declare readonly summary: pulumi.Output<CopySummary | undefined>;
  declare readonly runId: pulumi.Output<string>;

  constructor(name: string, args: { [K in keyof CopyRunInputs]: pulumi.Input<CopyRunInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(
      copyRunProvider,
      name,
      { ...args, status: undefined, message: undefined, finishedAt: undefined, summary: undefined },
      { ...opts, deleteBeforeReplace: true },
      undefined,
      "CopyRun",
    );
  }
}
