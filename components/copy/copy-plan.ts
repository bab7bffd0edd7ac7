// What a copy run will copy, per group, as the preview shows it and the stack outputs it (`plan`): the release's
// image list, the Deckhouse image and its tag, the modules of ModuleSource `deckhouse` (with versions; other
// sources listed as not copied), operator-trivy's databases and the update images. Counts the program cannot know
// (the release's list when it is read in the Job, each module's components) are said to come from the Job.
import type { CopyStageConfig } from "../../stack-config";
import type { ClusterModules } from "./modules-read";

export const SECURITY_DATABASE_COUNT = 4;
/** Five channels and the installer of the running version (copier/plan.ts planUpdateImages). */
const UPDATE_IMAGE_COUNT = 6;

export interface CopyPlan {
  release: { images?: number; from: "imagesFile" | "the Deckhouse image's list (read by the Job)" };
  deckhouse: { images: 1; targetImage: string };
  modules: {
    mode: CopyStageConfig["copyModules"];
    /** Each copied with its image, its release image and the components its list names (counted by the Job). */
    copied: Array<{ name: string; version: string; channel: string }>;
    notCopied: Array<{ name: string; version: string; source: string }>;
  };
  securityDatabases: { images: number; why: string };
  updates: { images: number; releaseChannel?: string; why: string };
}

export interface PlanInputs {
  config: CopyStageConfig;
  imagesCount?: number;
  modules: ClusterModules;
  /** The cluster's release channel (kebab-case), when one is set. */
  releaseChannel?: string;
}

export function planCopy({ config, imagesCount, modules, releaseChannel }: PlanInputs): CopyPlan {
  const copyModules = config.copyModules === "deployed";
  const notCopied = [...modules.others, ...(copyModules ? [] : modules.deckhouse.map((m) => ({ name: m.name, version: m.version, source: "deckhouse (copyModules: none)" })))];
  const security =
    config.copySecurityDatabases === "always"
      ? { images: SECURITY_DATABASE_COUNT, why: "copySecurityDatabases: always" }
      : config.copySecurityDatabases === "never"
        ? { images: 0, why: "copySecurityDatabases: never" }
        : modules.trivyEnabled
          ? { images: SECURITY_DATABASE_COUNT, why: "operator-trivy is enabled" }
          : { images: 0, why: "operator-trivy is not enabled" };
  const updates = config.copyUpdateImages
    ? { images: UPDATE_IMAGE_COUNT, why: "copyUpdateImages: every release channel and the installer" }
    : config.copyReleaseChannel && releaseChannel
      ? { images: 1, releaseChannel, why: "the cluster's release channel (copyReleaseChannel)" }
      : { images: 0, why: releaseChannel ? "copyReleaseChannel: false" : "no release channel set in the cluster" };
  return {
    release: imagesCount !== undefined ? { images: imagesCount, from: "imagesFile" } : { from: "the Deckhouse image's list (read by the Job)" },
    deckhouse: { images: 1, targetImage: config.targetImage },
    modules: { mode: config.copyModules, copied: copyModules ? modules.deckhouse.map(({ name, version, channel }) => ({ name, version, channel })) : [], notCopied },
    securityDatabases: security,
    updates,
  };
}

/** The preview's lines, one per group. */
export function describeCopyPlan(plan: CopyPlan): string[] {
  const mods = plan.modules.copied.map((m) => `${m.name} ${m.version} (${m.channel})`).join(", ");
  const lines = [
    `copy plan: release images: ${plan.release.images ?? "the list"} from ${plan.release.from}`,
    `copy plan: Deckhouse image: 1, as ${plan.deckhouse.targetImage}`,
    `copy plan: modules: ${plan.modules.copied.length}${mods ? `: ${mods}; each with its release image and the components its images_digests.json names` : ""}`,
    `copy plan: security databases: ${plan.securityDatabases.images} (${plan.securityDatabases.why})`,
    `copy plan: update images: ${plan.updates.images} (${plan.updates.why}${plan.updates.releaseChannel ? `: release-channel:${plan.updates.releaseChannel}` : ""})`,
  ];
  if (plan.modules.notCopied.length > 0) {
    lines.push(`copy plan: not copied (their registry does not change): ${plan.modules.notCopied.map((m) => `${m.name} ${m.version} from ModuleSource ${m.source}`).join(", ")}`);
  }
  return lines;
}
