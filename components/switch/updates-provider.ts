// A dynamic resource for Deckhouse's release channel across the switch. With `updates: disable` its create
// removes `releaseChannel` (where it lives: ModuleConfig or, on older releases, ConfigMap) and records the value
// it removed; its delete, after the snapshot has moved the registry back, puts that value back. With `keep` it
// changes nothing. Cluster access comes from the stack config at every call (configure).
import * as pulumi from "@pulumi/pulumi";
import { configuredAccess, withKube, type KubeAccess } from "../kube";
import { explainStaleAccess } from "./stale-access";
import { readReleaseChannel, writeReleaseChannel, type ChannelHome, type UpdatesMode } from "./updates";

export interface UpdatesInputs {
  mode: UpdatesMode;
  /** Where the setting lived when the program read it. */
  home: ChannelHome;
  /** The channel the program saw (shown by the preview; the value removed is read again at create). */
  channel?: string;
}

export interface UpdatesOutputs extends UpdatesInputs {
  /** The channel this resource removed and its delete restores; null: it removed nothing. */
  removed: string | null;
  removedFrom: ChannelHome;
}

/** Removes the channel when `mode` is disable; returns what it removed. */
async function apply(access: KubeAccess, inputs: UpdatesInputs): Promise<UpdatesOutputs> {
  if (inputs.mode !== "disable") return { ...inputs, removed: null, removedFrom: "none" };
  return withKube(access, async (kube) => {
    const live = await readReleaseChannel(kube);
    if (!live.channel) return { ...inputs, removed: null, removedFrom: live.home };
    await writeReleaseChannel(kube, live.home, undefined);
    console.log(`images-copier: removed releaseChannel ${live.channel} from the deckhouse ${live.home}; \`pulumi destroy\` puts it back`);
    return { ...inputs, removed: live.channel, removedFrom: live.home };
  });
}

/** Puts the removed channel back, unless someone set a channel since (theirs is kept). */
async function restore(access: KubeAccess, olds: UpdatesOutputs): Promise<void> {
  if (!olds.removed) return;
  await withKube(access, async (kube) => {
    const live = await readReleaseChannel(kube);
    if (live.channel) {
      console.log(`images-copier: releaseChannel is ${live.channel} now; leaving it (the switch had removed ${olds.removed})`);
      return;
    }
    await writeReleaseChannel(kube, olds.removedFrom, olds.removed as string);
  });
}

export const updatesProvider = {
  ...configuredAccess(),

  async create(inputs: UpdatesInputs): Promise<pulumi.dynamic.CreateResult> {
    return { id: "deckhouse-release-channel", outs: await apply(this.access, inputs) };
  },

  /** The channel the program sees changes once it is removed; only the mode and the setting's home count. */
  async diff(_id: string, olds: UpdatesOutputs, news: UpdatesInputs): Promise<pulumi.dynamic.DiffResult> {
    return { changes: olds.mode !== news.mode || olds.home !== news.home, replaces: [], deleteBeforeReplace: false };
  },

  async update(_id: string, olds: UpdatesOutputs, news: UpdatesInputs): Promise<pulumi.dynamic.UpdateResult> {
    if (olds.mode === news.mode && olds.home === news.home) return { outs: { ...olds, channel: news.channel } };
    await restore(this.access, olds);
    return { outs: await apply(this.access, news) };
  },

  async delete(_id: string, olds: UpdatesOutputs): Promise<void> {
    try {
      await restore(this.access, olds);
    } catch (error) {
      throw explainStaleAccess(error, "release channel not restored");
    }
  },
};

export class DeckhouseUpdates extends pulumi.dynamic.Resource {
  declare readonly mode: pulumi.Output<UpdatesMode>;
  declare readonly home: pulumi.Output<ChannelHome>;
  /** The channel as first recorded (the preview's words stay the same once it is removed). */
  declare readonly channel: pulumi.Output<string | undefined>;
  declare readonly removed: pulumi.Output<string | null>;
  declare readonly removedFrom: pulumi.Output<ChannelHome>;

  constructor(name: string, args: { [K in keyof UpdatesInputs]: pulumi.Input<UpdatesInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    // `channel` always named, even when undefined: an output exists only for a property the resource was given.
    super(updatesProvider, name, { ...args, channel: args.channel, removed: undefined, removedFrom: undefined }, opts, "images-copier", "DeckhouseUpdates");
  }
}
