// A dynamic resource for the ModuleConfig path: its create writes the target registry into the active mode's
// section of ModuleConfig `deckhouse` and waits for the registry module (after the documented migration to the
// configurable Unmanaged mode, when the cluster was still in the legacy one); its delete, `pulumi destroy`, writes the
// previous section back and waits again. The sections hold credentials: they are inputs the program marks secret, so
// the engine keeps the outputs of the same names secret; no other output repeats them.
// Cluster access comes from the stack config at every call (configure), never from the state.
import * as pulumi from "@pulumi/pulumi";
import { configuredAccess, withKube, type KubeAccess } from "../../kube";
import type { ConfigurableMode, RegistrySection } from "../../registry-mode";
import { writeRegistrySection } from "./module-config-cluster";

export interface ModeSwitchInputs {
  mode: ConfigurableMode;
  /** The legacy mode's migration: configurable Unmanaged with the registry the cluster uses now (secret). */
  migration?: RegistrySection;
  /** The target registry's section (secret). */
  target: RegistrySection;
  /** What destroy writes back (secret): the section before the switch, or after the migration. Kept from create. */
  previous: RegistrySection;
  /** Plain words for the preview: the repositories, no credential. Kept from create, as `previous`. */
  targetRepo: string;
  previousRepo: string;
  /** Whether create migrated from the legacy mode first (kept from create). */
  migrates: boolean;
  timeoutSeconds: number;
  pollSeconds?: number;
}

export interface ModeSwitchOutputs extends ModeSwitchInputs {
  switchedAt: string;
}

async function switchTo(access: KubeAccess, inputs: ModeSwitchInputs): Promise<void> {
  const timing = { timeoutMs: inputs.timeoutSeconds * 1000, pollMs: (inputs.pollSeconds ?? 2) * 1000 };
  await withKube(access, async (kube) => {
    if (inputs.migration) {
      console.log(`images-copier: migrating the registry module to the configurable Unmanaged mode with the current registry ${inputs.migration.imagesRepo}`);
      await writeRegistrySection(kube, { mode: "Unmanaged", section: inputs.migration, ...timing });
    }
    console.log(`images-copier: writing ${inputs.targetRepo} into ModuleConfig deckhouse (registry mode ${inputs.mode})`);
    await writeRegistrySection(kube, { mode: inputs.mode, section: inputs.target, ...timing });
  });
}

export const modeSwitchProvider = {
  ...configuredAccess(),

  async create(inputs: ModeSwitchInputs): Promise<pulumi.dynamic.CreateResult> {
    await switchTo(this.access, inputs);
    const outs: ModeSwitchOutputs = { ...inputs, switchedAt: new Date().toISOString() };
    return { id: "moduleconfig/deckhouse/registry", outs };
  },

  /** The previous section stays the one captured at create (a later run reads the switched ModuleConfig). */
  async diff(_id: string, olds: ModeSwitchOutputs, news: ModeSwitchInputs): Promise<pulumi.dynamic.DiffResult> {
    const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
    const changed = olds.mode !== news.mode || !same(olds.target, news.target) || olds.timeoutSeconds !== news.timeoutSeconds;
    return { changes: changed, replaces: [], deleteBeforeReplace: false };
  },

  async update(_id: string, olds: ModeSwitchOutputs, news: ModeSwitchInputs): Promise<pulumi.dynamic.UpdateResult> {
    const kept = { ...news, migration: olds.migration, previous: olds.previous, previousRepo: olds.previousRepo, migrates: olds.migrates };
    await switchTo(this.access, { ...kept, migration: undefined });
    const outs: ModeSwitchOutputs = { ...kept, switchedAt: new Date().toISOString() };
    return { outs };
  },

  async delete(_id: string, props: ModeSwitchOutputs): Promise<void> {
    console.log(`images-copier: writing ${props.previousRepo} back into ModuleConfig deckhouse (registry mode ${props.mode})`);
    await withKube(this.access, (kube) =>
      writeRegistrySection(kube, {
        mode: props.mode,
        section: props.previous,
        timeoutMs: (props.timeoutSeconds ?? 900) * 1000,
        pollMs: (props.pollSeconds ?? 2) * 1000,
      }),
    );
  },
};

export class RegistryModeSwitch extends pulumi.dynamic.Resource {
  declare readonly mode: pulumi.Output<ConfigurableMode>;
  declare readonly targetRepo: pulumi.Output<string>;
  declare readonly previousRepo: pulumi.Output<string>;
  declare readonly migrates: pulumi.Output<boolean>;
  declare readonly switchedAt: pulumi.Output<string>;

  constructor(name: string, args: { [K in keyof ModeSwitchInputs]: pulumi.Input<ModeSwitchInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(modeSwitchProvider, name, { ...args, switchedAt: undefined }, opts, "images-copier", "RegistryModeSwitch");
  }
}
