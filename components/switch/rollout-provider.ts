// A dynamic resource that waits for the Deckhouse rollout after the Patch resources and then lists the pods
// still running images from the old registry (the operator's follow-up list), each and grouped by owner, and restarts
// the owners `restartOldRegistryWorkloads` selects (old-registry-workloads.ts). Cluster access comes from the
// provider's configuration (configure): the current stack config in `pulumi up`; in `pulumi destroy`/`refresh`
// without `--run-program`, the config stored with the last `up` (../switch/stale-access.ts).
import * as pulumi from "@pulumi/pulumi";
import { configuredAccess, connectKube, type KubeAccess } from "../kube";
import { listOldRegistryWorkloads, waitForRollout } from "./cluster";
import { describeOldRegistryWorkload, describeRestartMode, restartOldRegistryWorkloads, type OldRegistryWorkload, type RestartMode } from "./old-registry-workloads";
import type { OldRegistryPod } from "./rollout";

export interface RolloutInputs {
  namespace: string;
  name: string;
  expectedImage: string;
  /** The copied release under its original tag (copy record `originalTagImage`), accepted when its pods run `expectedDigest`. */
  alsoImage?: string;
  expectedDigest?: string;
  /** `host/path` of the registry the cluster used before the switch. */
  oldRegistry: string;
  timeoutSeconds: number;
  pollSeconds?: number;
  /** Stuck-pulling pods the wait may delete (each once) so they pull again; default 3. */
  maxRestarts?: number;
  /** Which owners of pods left on the old registry to restart after the rollout; none when absent. */
  restartOldRegistryWorkloads?: RestartMode;
}

export interface RolloutOutputs extends RolloutInputs {
  ready: boolean;
  oldRegistryPods: OldRegistryPod[];
  /** The same pods grouped by owner; with what was restarted. */
  oldRegistryWorkloads: OldRegistryWorkload[];
}

async function waitAndList(access: KubeAccess, inputs: RolloutInputs): Promise<RolloutOutputs> {
  const kube = await connectKube(access);
  try {
    await waitForRollout(kube, {
      namespace: inputs.namespace,
      name: inputs.name,
      expectedImage: inputs.expectedImage,
      alsoImage: inputs.alsoImage,
      expectedDigest: inputs.expectedDigest,
      timeoutMs: inputs.timeoutSeconds * 1000,
      pollMs: (inputs.pollSeconds ?? 2) * 1000,
      maxRestarts: inputs.maxRestarts,
    });
    const { pods, workloads } = await listOldRegistryWorkloads(kube, inputs.oldRegistry);
    const oldRegistryWorkloads = await restartOldRegistryWorkloads(kube, workloads, inputs.restartOldRegistryWorkloads ?? "none");
    for (const w of oldRegistryWorkloads) console.log(describeOldRegistryWorkload(w));
    return { ...inputs, ready: true, oldRegistryPods: pods, oldRegistryWorkloads };
  } finally {
    await kube.close();
  }
}

export const rolloutProvider = {
  ...configuredAccess(),

  async create(inputs: RolloutInputs): Promise<pulumi.dynamic.CreateResult> {
    return { id: `${inputs.namespace}/${inputs.name}`, outs: await waitAndList(this.access, inputs) };
  },
  /** A record from before access came from configure still carries `kube`: an update rewrites it without. */
  async diff(_id: string, olds: RolloutOutputs & { kube?: unknown }, news: RolloutInputs): Promise<pulumi.dynamic.DiffResult> {
    const keys = ["expectedImage", "oldRegistry", "namespace", "name", "restartOldRegistryWorkloads"] as const;
    const changed = keys.some((k) => olds[k] !== news[k]) || olds.kube !== undefined;
    return { changes: changed, replaces: [], deleteBeforeReplace: false };
  },
  async update(_id: string, _olds: RolloutOutputs, news: RolloutInputs): Promise<pulumi.dynamic.UpdateResult> {
    return { outs: await waitAndList(this.access, news) };
  },
  /** `pulumi refresh`: a fresh list of the pods still on the old registry. */
  async read(id: string, props: RolloutOutputs): Promise<pulumi.dynamic.ReadResult> {
    const kube = await connectKube(this.access);
    try {
      // listed again, restarted never: what a restart did stays on the record until the next up
      const { pods, workloads } = await listOldRegistryWorkloads(kube, props.oldRegistry);
      return { id, props: { ...props, oldRegistryPods: pods, oldRegistryWorkloads: workloads } };
    } finally {
      await kube.close();
    }
  },
};

export class DeckhouseRollout extends pulumi.dynamic.Resource {
  declare readonly ready: pulumi.Output<boolean>;
  declare readonly oldRegistryPods: pulumi.Output<OldRegistryPod[]>;
  declare readonly oldRegistryWorkloads: pulumi.Output<OldRegistryWorkload[]>;

  constructor(name: string, args: { [K in keyof RolloutInputs]: pulumi.Input<RolloutInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(rolloutProvider, name, { ...args, ready: undefined, oldRegistryPods: undefined, oldRegistryWorkloads: undefined }, opts, "images-copier", "DeckhouseRollout");
    // The preview says which owners of pods left on the old registry the update will restart.
    pulumi.all([args.oldRegistry, args.restartOldRegistryWorkloads]).apply(([oldRegistry, mode]) => {
      if (mode && mode !== "none") pulumi.log.info(describeRestartMode(mode, oldRegistry), this);
    });
  }
}
