// `images-copier:index:CopyRun`: one copy run in the cluster, owned by the dynamic provider in copy-run-provider.ts.
import * as pulumi from "@pulumi/pulumi";
import type { CopyRunManifests, CopyRunPlan } from "./manifests";
import { makeCopyRunProvider, type CopySummary } from "./run-provider";
import type { KubeAccess } from "../kube";

export interface CopyRunArgs {
  namespace: pulumi.Input<string>;
  runId: pulumi.Input<string>;
  timeoutMinutes: pulumi.Input<number>;
  /** Holds credentials: pass it as a Pulumi secret. */
  manifests: pulumi.Input<CopyRunManifests>;
  /** What the run does, without credentials (a plain input, so preview shows it). */
  plan?: pulumi.Input<CopyRunPlan>;
  kube?: pulumi.Input<KubeAccess>;
}

const copyRunProvider = makeCopyRunProvider();

export class CopyRun extends pulumi.dynamic.Resource {
  declare readonly status: pulumi.Output<"succeeded" | "failed" | "timeout">;
  declare readonly message: pulumi.Output<string>;
  declare readonly finishedAt: pulumi.Output<string>;
  declare readonly summary: pulumi.Output<CopySummary | undefined>;
  declare readonly runId: pulumi.Output<string>;
  declare readonly plan: pulumi.Output<CopyRunPlan | undefined>;

  constructor(name: string, args: CopyRunArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      copyRunProvider,
      name,
      { ...args, status: undefined, message: undefined, finishedAt: undefined, summary: undefined },
      { ...opts, additionalSecretOutputs: ["manifests", "kube"] },
      undefined,
      "CopyRun",
    );
  }
}
