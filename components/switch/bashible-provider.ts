// `images-copier:BashibleApplied`: after the Deckhouse rollout, waits until bashible has applied the new registry
// on the nodes (node-groups.ts): the master NodeGroup (`waitNodeGroups: master`, the default) or every NodeGroup,
// master first (`all`), relaying progress (`images-copier: bashible: master: 2/3 nodes up to date`) and failing in
// one line naming the NodeGroups and nodes that lag. The NodeGroups' checksums read before the switch come in as an
// input and are kept from the first create on (as SwitchSnapshot keeps what it captured): later runs read the
// switched cluster and must not overwrite them. A cluster without NodeGroups (managed Kubernetes) is skipped, and
// the update says so. Cluster access comes from `configure` at every call, never from the state.
import * as pulumi from "@pulumi/pulumi";
import { configuredAccess, connectKube, type KubeAccess } from "../kube";
import { waitForNodeGroups, type NodeGroupProgress, type NodeGroupsBefore, type NodeGroupScope } from "./node-groups";

export interface BashibleInputs {
  scope: NodeGroupScope;
  timeoutMinutes: number;
  /** The checksums read before the switch changed anything; only the first create's are kept. */
  before: NodeGroupsBefore;
  /** false when they were read with deckhouse-registry already pointing at the target: no change can be required. */
  beforeOnOldRegistry: boolean;
  pollSeconds?: number;
}

export interface BashibleOutputs extends BashibleInputs {
  /** Why nothing was waited for (no NodeGroups, waitNodeGroups none). */
  skipped?: string;
  /** The groups waited for, as they were when all had applied the switch. */
  nodeGroups: Array<Pick<NodeGroupProgress, "name" | "checksum" | "before" | "nodes" | "upToDate">>;
  appliedAt: string;
}

export interface BashibleProviderOptions {
  log?: (line: string) => void;
  /** Minutes are the unit of timeoutMinutes; tests shrink it. */
  msPerMinute?: number;
}

async function waitApplied(access: KubeAccess, inputs: BashibleInputs, opts: BashibleProviderOptions): Promise<BashibleOutputs> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const kube = await connectKube(access);
  try {
    const result = await waitForNodeGroups(kube, {
      scope: inputs.scope,
      before: inputs.before,
      requireChange: inputs.beforeOnOldRegistry,
      timeoutMs: inputs.timeoutMinutes * (opts.msPerMinute ?? 60_000),
      pollMs: (inputs.pollSeconds ?? 3) * 1000,
      log,
      timeoutWords: `${inputs.timeoutMinutes} minute${inputs.timeoutMinutes === 1 ? "" : "s"} (nodeGroupsTimeoutMinutes)`,
    });
    const appliedAt = new Date().toISOString();
    if ("skipped" in result) {
      log(`images-copier: bashible: not waited for: ${result.skipped}`);
      return { ...inputs, skipped: result.skipped, nodeGroups: [], appliedAt };
    }
    log(`images-copier: bashible has applied the new registry on NodeGroup${result.groups.length === 1 ? "" : "s"} ${result.groups.map((g) => `${g.name} (${g.nodes} node${g.nodes === 1 ? "" : "s"})`).join(", ")}`);
    return { ...inputs, nodeGroups: result.groups.map(({ name, checksum, before, nodes, upToDate }) => ({ name, checksum, before, nodes, upToDate })), appliedAt };
  } finally {
    await kube.close();
  }
}

export function makeBashibleProvider(opts: BashibleProviderOptions = {}) {
  return {
    ...configuredAccess(),

    async create(inputs: BashibleInputs): Promise<pulumi.dynamic.CreateResult> {
      return { id: "node-groups", outs: await waitApplied(this.access, inputs, opts) };
    },

    /** Another scope or timeout waits again; the checksums read before the switch never change a recorded wait. */
    async diff(_id: string, olds: BashibleOutputs, news: BashibleInputs): Promise<pulumi.dynamic.DiffResult> {
      return { changes: olds.scope !== news.scope || olds.timeoutMinutes !== news.timeoutMinutes, replaces: [], deleteBeforeReplace: false };
    },

    async update(_id: string, olds: BashibleOutputs, news: BashibleInputs): Promise<pulumi.dynamic.UpdateResult> {
      const kept = { ...news, before: olds.before, beforeOnOldRegistry: olds.beforeOnOldRegistry };
      return { outs: await waitApplied(this.access, kept, opts) };
    },
  };
}

const bashibleProvider = makeBashibleProvider();

export class BashibleApplied extends pulumi.dynamic.Resource {
  declare readonly nodeGroups: pulumi.Output<BashibleOutputs["nodeGroups"]>;
  declare readonly skipped: pulumi.Output<string | undefined>;

  constructor(name: string, args: { [K in keyof BashibleInputs]: pulumi.Input<BashibleInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(bashibleProvider, name, { ...args, skipped: undefined, nodeGroups: undefined, appliedAt: undefined }, opts, "images-copier", "BashibleApplied");
    pulumi.all([args.scope, args.timeoutMinutes]).apply(([scope, minutes]) =>
      pulumi.log.info(
        scope === "none"
          ? "images-copier: bashible: not waited for (waitNodeGroups: none)"
          : `images-copier: after the rollout, waits up to ${minutes} minutes (nodeGroupsTimeoutMinutes) until bashible has applied the new registry on ${scope === "master" ? "NodeGroup master" : "every NodeGroup, master first"} (waitNodeGroups: ${scope})`,
        this,
      ),
    );
  }
}
