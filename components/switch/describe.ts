// The switch in plain words, for the preview (stack outputs): the release, the registry, what is re-pointed, the
// release channel, the checks, and what `pulumi destroy` would put back. Built only from the plan and the
// resources' recorded inputs, so a second `pulumi up` after the switch prints the same words (no diff).
import { parseImageReference } from "../../copier";
import { CHECK_NAME } from "./check-job";
import type { SwitchPlan } from "./plan";
import type { RollbackState } from "./rollback";
import { channelTag, describeHome, type ChannelHome, type UpdatesMode } from "./updates";

export interface SwitchDescription {
  release: string;
  registry: string;
  repoint: string[];
  secret: string;
  checks: string;
}

/** The release's version: as the copy stack found it, else as the image's tag names it (`v1.46.3`, `rock-solid`). */
export function releaseVersion(record: Pick<SwitchPlan["record"], "deckhouseVersion" | "sourceImage">): string {
  if (record.deckhouseVersion) return record.deckhouseVersion;
  try {
    return parseImageReference(record.sourceImage).tag ?? "pinned by digest";
  } catch {
    return "unknown version";
  }
}

export function describeSwitch(plan: SwitchPlan, username: string): SwitchDescription {
  const { record } = plan;
  const run = record.runId ? `run ${record.runId} of ` : "";
  const values = plan.secretValues;
  const written = Object.entries(values).map(([key, value]) => (key === "ca" ? (value ? "ca (the given CA)" : 'ca "" (the old CA removed)') : `${key} ${value}`));
  const references = plan.checks.references.length;
  return {
    release: `Deckhouse ${releaseVersion(record)} (${record.sourceDigest}), image ${record.sourceImage}, copied by ${run}copy stack ${plan.copyStack}; the Deckhouse running now is that release`,
    registry: `from ${plan.sourceRepository} to ${plan.targetRepository} (${values.scheme ?? "https"}, user ${username})`,
    repoint: plan.imageChanges.map((c) => `${c.kind === "initContainer" ? "init container" : "container"} ${c.name}: ${c.from} -> ${c.to}`),
    secret: `d8-system/deckhouse-registry: .dockerconfigjson (user ${username} at ${plan.targetRegistry}), ${written.join(", ")}; other keys untouched`,
    checks:
      plan.checks.from === "cluster"
        ? `will run in the cluster, as Job d8-system/${CHECK_NAME}, before any change: Bearer token auth of ${plan.targetRegistry} and ${references} image(s) present (the target image as ${plan.checks.sourceDigest})`
        : `passed from here, before any change: ${plan.targetRegistry} asks for Bearer tokens, ${references} image(s) present, the target image is ${plan.checks.sourceDigest}`,
  };
}

export function describeReleaseChannel(mode: UpdatesMode, home: ChannelHome, channel: string | undefined, targetRepository: string): string {
  if (!channel) return `no releaseChannel is set (${describeHome(home)}): nothing to change`;
  if (mode === "keep") {
    return `keeps releaseChannel ${channel} in ${describeHome(home)}: Deckhouse will look for ${targetRepository}/release-channel:${channelTag(channel)} in the new registry (checked)`;
  }
  return `removes releaseChannel ${channel} from ${describeHome(home)}: Deckhouse takes no updates from the new registry (updates: disable)`;
}

export function describeRollback(images: RollbackState["deployment"], oldRegistry: string, secretRestorable: boolean, removedChannel: string | undefined): string[] {
  const lines = secretRestorable
    ? [
        `d8-system/deckhouse-registry: the keys this switch writes, back to their values before the switch (registry ${oldRegistry})`,
        ...[...images.initContainers.map((c) => `init container ${c.name}: ${c.image}`), ...images.containers.map((c) => `container ${c.name}: ${c.image}`)],
        "then waits for the Deckhouse rollout",
      ]
    : ["nothing of the registry: the deckhouse-registry Secret already pointed at the new registry when this stack first ran, so the old registry's credentials are unknown"];
  if (removedChannel) lines.push(`releaseChannel ${removedChannel}, after the registry`);
  return lines;
}
