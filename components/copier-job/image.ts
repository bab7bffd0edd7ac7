// How a copier Job (the copy Job, the switch's check Job) gets its copier image, decided at program time (`pulumi
// preview` as `pulumi up`). An image in the target registry (the host of targetImage) is read there with the target
// credentials: a tag is pinned to the digest the registry holds now, a digest is used as given, and an image whose
// every platform carries the label `publish-image` writes runs its own copier (no ConfigMap). Such an image is pulled
// with a pull Secret built from the target credentials (pull-secret.ts). Images elsewhere are used as configured:
// `copierBundled` says whether they hold the copier.
import { COPIER_IMAGE_LABELS, ImageNotFoundError, inspectCopierImage, parseImageReference, proxySettingsFromEnv, type InspectedCopierImage } from "../../copier";
import type { CopyStageConfig } from "../../stack-config";

/** What both stages' configs (the same keys in each) say about the copier image and the target registry. */
export type CopierImageConfig = Pick<CopyStageConfig, "copierImage" | "copierBundled" | "targetImage" | "targetUsername" | "targetPassword" | "targetInsecure" | "targetCA">;

export type CopierSource =
  /** The bundled copier from the ConfigMap, run by the image's node. */
  | "configmap"
  /** The stack's copierBundled: the image holds the copier (the Dockerfile's image). */
  | "copierBundled"
  /** The image's label says publish-image put the copier in it. */
  | "image-label";

export interface CopierImagePlan {
  /** What the Job runs: `<repo>@sha256:…` for an image resolved in the target registry, else copierImage as set. */
  image: string;
  /** copierImage as configured. */
  configured: string;
  /** In the target registry: pinned there, and pulled with the pull Secret. */
  inTargetRegistry: boolean;
  copier: CopierSource;
  /** With copier "image-label": the bundle the image carries (sha256 of it) and the copier's version. */
  bundleDigest?: string;
  version?: string;
}

export type CopierImageInspector = (reference: string, access: { username: string; password: string; insecure: boolean; ca?: string; proxy?: ReturnType<typeof proxySettingsFromEnv> }) => Promise<InspectedCopierImage>;

/** Whether copierImage lives on the registry host of targetImage. */
export function copierImageInTarget(config: Pick<CopierImageConfig, "copierImage" | "targetImage">): boolean {
  return parseImageReference(config.copierImage).registry === parseImageReference(config.targetImage).registry;
}

/** Decides the plan; rejects with one line (no credential in it) when an image in the target registry cannot be used. */
export async function planCopierImage(config: CopierImageConfig, inspect: CopierImageInspector = inspectCopierImage): Promise<CopierImagePlan> {
  const configured = config.copierImage;
  if (!copierImageInTarget(config)) {
    return { image: configured, configured, inTargetRegistry: false, copier: config.copierBundled ? "copierBundled" : "configmap" };
  }
  const ref = parseImageReference(configured);
  let inspected: InspectedCopierImage;
  try {
    const access = { username: config.targetUsername, password: config.targetPassword, insecure: config.targetInsecure, ca: config.targetCA, proxy: proxySettingsFromEnv() };
    inspected = await inspect(configured, access);
  } catch (error) {
    if (error instanceof ImageNotFoundError) {
      const target = ref.tag && !ref.digest ? configured : `${ref.registry}/${ref.repository}:<tag>`;
      throw new Error(
        `images-copier: copierImage ${configured} is not in the target registry; publish it there first: ` +
          `npx images-copier publish-image --target ${target} (then set copierImage to the reference it prints, or keep the tag)`,
      );
    }
    throw new Error(`images-copier: cannot read copierImage ${configured} from the target registry: ${(error as Error).message}`);
  }
  // A digest is used as given (the registry has just confirmed it); a tag is pinned to what it names now.
  const image = ref.digest ? configured : inspected.pinned;
  const plan: CopierImagePlan = { image, configured, inTargetRegistry: true, copier: config.copierBundled ? "copierBundled" : "configmap" };
  if (inspected.copier) {
    return { ...plan, copier: "image-label", bundleDigest: inspected.copier.bundleDigest, ...(inspected.copier.version ? { version: inspected.copier.version } : {}) };
  }
  return plan;
}

/** One line for the preview and `up` logs: what the Job (`job`: "the Job", "the check Job") runs, and where its copier comes from. */
export function describeCopierImage(plan: CopierImagePlan, pullSecret?: string, job = "the Job"): string {
  const runs = plan.image === plan.configured ? plan.image : `${plan.image} (${plan.configured} pinned by digest)`;
  const copier =
    plan.copier === "image-label"
      ? `the image's own copier (label ${COPIER_IMAGE_LABELS.bundleDigest}=${plan.bundleDigest}${plan.version ? `, version ${plan.version}` : ""}: published by publish-image, so copierBundled applies and no ConfigMap is made)`
      : plan.copier === "copierBundled"
        ? "the image's own copier (copierBundled)"
        : "the bundled copier from a ConfigMap";
  return `images-copier: ${job} runs ${runs} with ${copier}${pullSecret ? `; pulled with Secret d8-system/${pullSecret} (the target credentials)` : ""}`;
}

/** The stack output that says what a Job runs (plain: no credential in it). */
export function copierImageOutput(plan: CopierImagePlan, pullSecret?: string) {
  return {
    image: plan.image,
    configured: plan.configured,
    copier: plan.copier,
    ...(plan.bundleDigest ? { bundleDigest: plan.bundleDigest } : {}),
    ...(plan.version ? { version: plan.version } : {}),
    ...(pullSecret ? { pullSecret } : {}),
  };
}
