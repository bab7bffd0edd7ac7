// The switch stack: after a verified copy, points Deckhouse at the customer's registry.
//
// declareSwitchStage first runs the gate (plan.ts): it reads the copy stack's record (a StackReference) and the
// cluster, and checks the target registry, in `pulumi preview` as in `pulumi up`. Only then is SwitchStage
// constructed, and it declares every resource unconditionally with plain, known values: the preview lists them
// all, and a dynamic provider's Diff never meets an unknown. A refusal rejects with one RunError before any
// resource of the switch is registered, so nothing in the cluster changes, in preview and in update alike; the
// program exports that promise, and Pulumi reports a RunError as its message alone, one line. (A refusal carried
// by resource inputs instead would reach the engine prefixed with every property it passed through.)
//
// With `checkFrom: cluster` the copier image is planned first, as the copy stack plans it (../copier-job/image.ts:
// one in the target registry is pinned by digest, a missing tag refused), and the check's objects come first
// (cluster-check.ts).
//
// The gate also says which path the cluster's registry needs (../registry-mode.ts): the legacy patches
// (paths/legacy.ts) or the ModuleConfig path (paths/module-config.ts); both sit between DeckhouseUpdates and the
// rollout wait, and share the checks, the rollout wait and the report.
//
// Order (dependsOn): [ClusterCheck] -> DeckhouseUpdates -> (legacy: SwitchSnapshot -> SecretPatch -> DeploymentPatch |
// ModuleConfig: RegistryModeSwitch) -> DeckhouseRollout. `pulumi destroy` runs it backwards: the snapshot (or
// RegistryModeSwitch) puts the registry back, then the release channel returns.
import * as pulumi from "@pulumi/pulumi";
import type { SwitchStageConfig } from "../../stack-config";
import { copierBundleFile, copierBundlePath, type CopierBundleFile } from "../copier-job/bundle-file";
import { copierImageOutput, planCopierImage, type CopierImageInspector, type CopierImagePlan } from "../copier-job/image";
import { connectKube, type KubeAccess } from "../kube";
import { kubeAccessFromStack } from "../kube/stack-access";
import { oneLineError } from "../one-line-error";
import { CHECK_PULL_SECRET_NAME } from "./check-job";
import { checkJobPlacement, declareClusterCheck } from "./cluster-check";
import { readClusterView } from "./cluster-view";
import { readRegistryPath } from "../registry-mode";
import { describeReleaseChannel, describeSwitch } from "./describe";
import { declareLegacyPath } from "./paths/legacy";
import { declareModuleConfigPath, type ModuleConfigSections } from "./paths/module-config";
import { planSwitch, type Gate } from "./plan";
import type { RegistryChecker } from "./registry-checks";
import { describeProven, proveWrites } from "../kube/write-proof";
import { legacyWrites } from "./legacy-writes";
import { moduleConfigWrites } from "./paths/module-config-writes";
import { DECKHOUSE_DEPLOYMENT, DECKHOUSE_NAMESPACE } from "./rollback";
import { FOLLOW_UP_STEPS } from "./rollout";
import { BashibleApplied } from "./bashible-provider";
import { DeckhouseRollout } from "./rollout-provider";
import { DeckhouseUpdates } from "./updates-provider";

/** Field manager of the switch's Server-Side Apply patches (visible in the objects' managedFields). */
export { SWITCH_FIELD_MANAGER } from "./legacy-writes";

const LEGACY_PATH_WORDS = "legacy: no registry module owns the registry; Secret d8-system/deckhouse-registry and Deployment d8-system/deckhouse are patched, as change-registry does";
const MODULE_CONFIG_PATH_WORDS = "ModuleConfig: the registry module owns the registry; the switch edits ModuleConfig deckhouse spec.settings.registry and waits for Secret d8-system/registry-state";

/** How long the check Job may take before the switch gives up. */
const CHECK_TIMEOUT_SECONDS = 300;

export interface SwitchStageDeps {
  /** The registry checks run from here; defaults to the copier's. */
  checker?: RegistryChecker;
  /** Cluster access for the program's reads; defaults to `kubernetes:kubeconfig` / `kubernetes:context`. */
  kube?: KubeAccess;
  rolloutTimeoutSeconds?: number;
  /** The bundled copier for `checkFrom: cluster`; dist/images-copier.cjs (or IMAGES_COPIER_BUNDLE) when not given. */
  copierBundlePath?: string;
  /** Reads a copier image in the target registry; the copier's inspectCopierImage when not given. */
  inspectCopierImage?: CopierImageInspector;
}

/** The copy record, the cluster and every check; any failure becomes one line. */
async function runGate(config: SwitchStageConfig, copyStack: pulumi.StackReference, access: KubeAccess, checker?: RegistryChecker): Promise<Gate> {
  let copy: unknown;
  try {
    const { value, secretValue } = await copyStack.getOutputDetails("copy");
    copy = value ?? secretValue;
  } catch (err) {
    throw oneLineError(err, `images-copier: refusing to switch: cannot read the outputs of copy stack "${config.copyStack}": `);
  }
  try {
    const kube = await connectKube(access);
    try {
      const [view, registryPath] = await Promise.all([readClusterView(kube), readRegistryPath(kube)]);
      const gate = await planSwitch({ config, copy, view, registryPath, checker });
      // Every write to an existing object, as a server-side dry run with the identity the write will use.
      const writes = gate.plan.moduleConfig ? await moduleConfigWrites(kube, gate, config) : await legacyWrites(kube, gate.plan, config);
      pulumi.log.info(describeProven(await proveWrites(kube, writes, "images-copier: refusing to switch")));
      return gate;
    } finally {
      await kube.close();
    }
  } catch (err) {
    throw oneLineError(err, "images-copier: refusing to switch: cannot read the cluster: ");
  }
}

export interface SwitchStageArgs {
  config: SwitchStageConfig;
  /** The gate's result: the plan, and the values that travel on only as secrets. */
  gate: Gate;
  /** With `checkFrom: cluster`: what the check Job runs, and the bundled copier unless the image holds it. */
  check?: { copierImage: CopierImagePlan; bundle?: CopierBundleFile };
  rolloutTimeoutSeconds?: number;
  /** The cluster access the gate used; with `impersonate`, the patches of Deckhouse's objects are sent as that user. */
  access?: KubeAccess;
}

/**
 * Runs the gate, then declares the switch. Rejects with one RunError when the switch is refused; nothing of the
 * switch is declared then.
 */
export async function declareSwitchStage(name: string, config: SwitchStageConfig, opts?: pulumi.ComponentResourceOptions, deps: SwitchStageDeps = {}): Promise<SwitchStage> {
  // What the check Job runs comes first, as in the copy stage: a copier image the target registry lacks (read
  // there, from here) or a missing bundle is refused before the copy record and the cluster are read.
  let check: SwitchStageArgs["check"];
  try {
    if (config.checkFrom === "cluster") {
      const copierImage = await planCopierImage(config, deps.inspectCopierImage);
      // An image that carries the copier itself (copierBundled, or publish-image's label): no bundle, no ConfigMap.
      check = { copierImage, bundle: copierImage.copier === "configmap" ? copierBundleFile(deps.copierBundlePath ?? copierBundlePath()) : undefined };
    }
  } catch (err) {
    throw oneLineError(err, "images-copier: ");
  }
  const copyStack = new pulumi.StackReference(`${name}-copy-stack`, { name: config.copyStack });
  const access = deps.kube ?? kubeAccessFromStack();
  const gate = await runGate(config, copyStack, access, deps.checker);
  return new SwitchStage(name, { config, gate, check, rolloutTimeoutSeconds: deps.rolloutTimeoutSeconds, access }, opts);
}

export class SwitchStage extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Input<unknown>>;

  constructor(name: string, args: SwitchStageArgs, opts?: pulumi.ComponentResourceOptions) {
    // No args to the base class: a component's args are stored as its inputs, and these hold the password.
    super("images-copier:index:SwitchStage", name, {}, opts);
    const { config, gate } = args;
    const { plan } = gate;
    const parent = { parent: this };
    const timeoutSeconds = args.rolloutTimeoutSeconds ?? 900;
    const description = describeSwitch(plan, config.targetUsername);

    const check = args.check
      ? declareClusterCheck(
          `${name}-check`,
          {
            namespace: DECKHOUSE_NAMESPACE,
            expectations: (({ from: _from, ...expectations }) => expectations)(plan.checks),
            copierImage: args.check.copierImage,
            bundle: args.check.bundle,
            target: {
              username: config.targetUsername,
              password: config.targetPassword,
              insecure: config.targetInsecure,
              image: plan.targetImage,
              ...(config.targetCA ? { ca: config.targetCA } : {}),
            },
            proxyEnv: gate.proxyEnv,
            timeoutSeconds: CHECK_TIMEOUT_SECONDS,
            description: description.checks,
            ...checkJobPlacement(config),
          },
          this,
        )
      : undefined;

    const updates = new DeckhouseUpdates(
      `${name}-updates`,
      { mode: plan.updates.mode, home: plan.updates.home, channel: plan.updates.channel },
      { ...parent, dependsOn: check ? [check] : [] },
    );

    // The seam: the gate chose the path (plan.registryPath); each path declares its writes after `updates`, and
    // the rollout wait, the report and the checks before them are shared.
    const path: { last: pulumi.Resource; words?: pulumi.Output<string[]>; outputs: Record<string, pulumi.Input<unknown>> } =
      plan.moduleConfig === undefined
        ? declareLegacyPath(name, { config, gate, updates, timeoutSeconds, access: args.access }, this)
        : declareModuleConfigPath(
            name,
            {
              plan: plan.moduleConfig,
              sections: gate.moduleSections as ModuleConfigSections,
              target: { repository: plan.targetRepository, username: config.targetUsername, password: config.targetPassword, insecure: config.targetInsecure, ca: config.targetCA },
              timeoutSeconds,
              username: config.targetUsername,
            },
            { ...parent, dependsOn: [updates] },
          );

    const rollout = new DeckhouseRollout(
      `${name}-rollout`,
      {
        namespace: DECKHOUSE_NAMESPACE,
        name: DECKHOUSE_DEPLOYMENT,
        expectedImage: plan.moduleConfig?.expectedImage ?? plan.targetImage,
        // legacy: Deckhouse may render the copied release under its original tag itself (its pods' digest decides)
        ...(!plan.moduleConfig && plan.record.originalTagImage ? { alsoImage: plan.record.originalTagImage, expectedDigest: plan.record.sourceDigest } : {}),
        oldRegistry: plan.sourceRepository,
        timeoutSeconds,
        restartOldRegistryWorkloads: config.restartOldRegistryWorkloads,
      },
      { ...parent, dependsOn: [path.last] },
    );

    // After the rollout: bashible has applied the new registry on the nodes (the checksums the gate read are kept from the first create).
    const bashible = new BashibleApplied(
      `${name}-bashible`,
      { scope: config.waitNodeGroups, timeoutMinutes: config.nodeGroupsTimeoutMinutes, before: gate.nodeGroupsBefore, beforeOnOldRegistry: plan.rollback.secretRestorable },
      { ...parent, dependsOn: [rollout] },
    );

    // The module path writes neither the Secret nor the Deployment: its words replace those of the patches.
    const { secret: _secret, repoint: _repoint, ...shared } = description;
    this.outputs = {
      targetImage: plan.targetImage,
      registryPath: plan.registryPath,
      // The release channel's words come from the resource's recorded inputs: the same once it is removed.
      plan: pulumi.all([updates.mode, updates.home, updates.channel, path.words]).apply(([mode, home, channel, moduleConfig]) => ({
        ...shared,
        // Stable words (a switched cluster reads differently; the `registryPath` output says what was read now).
        registryPath: plan.moduleConfig ? MODULE_CONFIG_PATH_WORDS : LEGACY_PATH_WORDS,
        ...(moduleConfig ? { moduleConfig } : { repoint: description.repoint, secret: description.secret }),
        releaseChannel: describeReleaseChannel(mode, home, channel ?? undefined, plan.targetRepository),
      })),
      copy: plan.record,
      ...path.outputs,
      ...(plan.moduleConfig
        ? {
            rollback: pulumi
              .all([path.outputs.rollback as pulumi.Input<string[]>, updates.mode, updates.channel])
              .apply(([lines, mode, channel]) => [...lines, ...(mode === "disable" && channel ? [`releaseChannel ${channel}, after the registry`] : [])]),
          }
        : {}),
      rolloutReady: rollout.ready,
      oldRegistryPods: rollout.oldRegistryPods,
      oldRegistryWorkloads: rollout.oldRegistryWorkloads,
      nodeGroups: bashible.nodeGroups,
      followUp: [...FOLLOW_UP_STEPS],
      // What the check Job runs (plain: no credential in it), as the copy stack says what its Job runs.
      ...(args.check ? { copierImage: copierImageOutput(args.check.copierImage, args.check.copierImage.inTargetRegistry ? CHECK_PULL_SECRET_NAME : undefined) } : {}),
    };
    this.registerOutputs(this.outputs);
  }
}
