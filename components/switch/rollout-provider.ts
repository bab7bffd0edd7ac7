// A dynamic resource that waits for the Deckhouse rollout after the Patch resources and then lists the pods
// still running images from the old registry (the operator's follow-up list). Cluster access comes from the
// provider's configuration (configure): the current stack config in `pulumi up`; in `pulumi destroy`/`refresh`
// without `--run-program`, the config stored with the last `up` (../switch/stale-access.ts).
import * as pulumi from "@pulumi/pulumi";
import { configuredAccess, connectKube, type KubeAccess } from "../kube";
import { listOldRegistryPods, waitForRollout } from "./cluster";
import type { OldRegistryPod } from "./rollout";

export interface RolloutInputs {
  namespace: string;
  name: string;
  expectedImage: string;
  /** `host/path` of the registry the cluster used before the switch. */
  oldRegistry: string;
  timeoutSeconds: number;
  pollSeconds?: number;
  /** Stuck-pulling pods the wait may delete (each once) so they pull again; default 3. */
  maxRestarts?: number;
}

export interface RolloutOutputs extends RolloutInputs {
  ready: boolean;
  oldRegistryPods: OldRegistryPod[];
}

async function waitAndList(access: KubeAccess, inputs: RolloutInputs): Promise<RolloutOutputs> {
  const kube = await connectKube(access);
  try {
    await waitForRollout(kube, {
      namespace: inputs.namespace,
      name: inputs.name,
      expectedImage: inputs.expectedImage,
      timeoutMs: inputs.timeoutSeconds * 1000,
      pollMs: (inputs.pollSeconds ?? 2) * 1000,
      maxRestarts: inputs.maxRestarts,
    });
    const oldRegistryPods = await listOldRegistryPods(kube, inputs.oldRegistry);
    return { ...inputs, ready: true, oldRegistryPods };
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
    const keys = ["expectedImage", "oldRegistry", "namespace", "name"] as const;
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
      return { id, props: { ...props, oldRegistryPods: await listOldRegistryPods(kube, props.oldRegistry) } };
    } finally {
      await kube.close();
    }
  },
};

export class DeckhouseRollout extends pulumi.dynamic.Resource {
  declare readonly ready: pulumi.Output<boolean>;
  declare readonly oldRegistryPods: pulumi.Output<OldRegistryPod[]>;

  constructor(name: string, args: { [K in keyof RolloutInputs]: pulumi.Input<RolloutInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(rolloutProvider, name, { ...args, ready: undefined, oldRegistryPods: undefined }, opts, "images-copier", "DeckhouseRollout");
  }
}
