// The images of a release run: every distinct list value from the module repository to the target repository
// (same tag or digest), plus the Deckhouse image to the target image (its only renamed tag).

import type { ImagesList } from "./config";
import { distinctImageValues } from "./config";
import {
  formatReference,
  moduleRepository,
  parseImageReference,
  parseTaggedReference,
  referenceInRepository,
  type ImageReference,
} from "./reference";

export interface ImageJob {
  source: ImageReference;
  target: ImageReference;
  /** An update image (release channel, installer): its absence in the source is reported, not a failure. */
  optional?: boolean;
}

/** Release channels Deckhouse looks up in `<repo>/release-channel` to find updates. */
export const RELEASE_CHANNELS = ["alpha", "beta", "early-access", "stable", "rock-solid"] as const;

export function planRelease(sourceImage: string, targetImage: string, images: ImagesList): ImageJob[] {
  const source = parseImageReference(sourceImage);
  if (!source.tag && !source.digest) throw new Error(`source image "${sourceImage}" has neither a tag nor a digest`);
  const target = parseTaggedReference(targetImage, "target image");
  const sourceRepo = moduleRepository(source);
  const targetRepo = { registry: target.registry, repository: target.repository };
  const jobs: ImageJob[] = [];
  const seen = new Set<string>();
  for (const value of distinctImageValues(images)) {
    const job = { source: referenceInRepository(sourceRepo, value), target: referenceInRepository(targetRepo, value) };
    const key = `${formatReference(job.source)} ${formatReference(job.target)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    jobs.push(job);
  }
  jobs.push({ source, target: { registry: target.registry, repository: target.repository, tag: target.tag } });
  return jobs;
}

/**
 * The Deckhouse image under its CURRENT tag in the target repository too: Deckhouse renders its image as
 * `<registry base>:<tag of the running image>` (legacy mode; from v1.76 whenever it differs), so once the
 * registry changes it may pull `<target repo>:<original tag>`. None when the source has no tag (digest only) or
 * carries the target's tag already. The copy pushes it by the digest the Deckhouse job resolved (see copyRelease).
 */
export function planOriginalTag(deckhouse: ImageJob): ImageJob | undefined {
  const tag = deckhouse.source.tag;
  if (!tag || tag === deckhouse.target.tag) return undefined;
  return { source: deckhouse.source, target: { registry: deckhouse.target.registry, repository: deckhouse.target.repository, tag } };
}

/**
 * The update sub-repositories (opt-in): every release channel tag, and the installer of the running version
 * (`<repo>/install:<tag of the Deckhouse image>`; none when that image is addressed by digest only).
 */
export function planUpdateImages(sourceImage: string, targetImage: string): ImageJob[] {
  const source = parseImageReference(sourceImage);
  const target = parseTaggedReference(targetImage, "target image");
  const sourceRepo = moduleRepository(source);
  const at = (repo: { registry: string; repository: string }, sub: string, tag: string): ImageReference => ({
    registry: repo.registry,
    repository: `${repo.repository}/${sub}`,
    tag,
  });
  const pair = (sub: string, tag: string): ImageJob => ({ source: at(sourceRepo, sub, tag), target: at(target, sub, tag), optional: true });
  const jobs = RELEASE_CHANNELS.map((channel) => pair("release-channel", channel));
  if (source.tag) jobs.push(pair("install", source.tag));
  return jobs;
}

/** The tag or digest addressing a reference's manifest (digest first). */
export function manifestRef(ref: ImageReference): string {
  return (ref.digest ?? ref.tag) as string;
}
