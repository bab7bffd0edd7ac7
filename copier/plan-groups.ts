// The groups a run's images fall into, as the report, the result line, the copy record and the copy stack's
// preview show them: the release's image list, the Deckhouse image (and its tags), the modules of ModuleSource
// `deckhouse`, operator-trivy's security databases, and the update images. Also the plans of the two new groups
// whose images are known up front: the security databases and each module's own image and release image.

import type { ImageJob } from "./plan";
import type { ModuleSpec } from "./modules-list";
import { moduleRepository, parseImageReference, parseTaggedReference, type ImageReference, type RepositoryName } from "./reference";

export const GROUPS = ["release", "deckhouse", "modules", "security", "updates"] as const;
export type Group = (typeof GROUPS)[number];

/** operator-trivy's databases, pulled from `<repo>/security/<name>:<tag>` every 6 hours (fixed names and tags). */
export const SECURITY_DATABASES = [
  { name: "trivy-db", tag: "2" },
  { name: "trivy-bdu", tag: "1" },
  { name: "trivy-java-db", tag: "1" },
  { name: "trivy-checks", tag: "0" },
] as const;

export interface GroupTotals {
  images: number;
  copied: number;
  skipped: number;
  failed: number;
  missing: number;
  absent: number;
}

function repositories(sourceImage: string, targetImage: string): { source: RepositoryName; target: RepositoryName } {
  const target = parseTaggedReference(targetImage, "target image");
  return { source: moduleRepository(parseImageReference(sourceImage)), target: { registry: target.registry, repository: target.repository } };
}

const inRepo = (repo: RepositoryName, sub: string, at: { tag?: string; digest?: string }): ImageReference => ({
  registry: repo.registry,
  repository: `${repo.repository}/${sub}`,
  ...at,
});

/** A release job is the Deckhouse image's when it copies that very source reference (whatever target tag). */
export function releaseGroupOf(job: ImageJob, deckhouseSource: ImageReference): Group {
  const same = job.source.repository === deckhouseSource.repository && job.source.tag === deckhouseSource.tag && job.source.digest === deckhouseSource.digest;
  return same ? "deckhouse" : "release";
}

/** The four databases; a source that lacks one reports it `absent` (an edition without operator-trivy has none). */
export function planSecurityDatabases(sourceImage: string, targetImage: string): ImageJob[] {
  const { source, target } = repositories(sourceImage, targetImage);
  return SECURITY_DATABASES.map(({ name, tag }) => ({
    source: inRepo(source, `security/${name}`, { tag }),
    target: inRepo(target, `security/${name}`, { tag }),
    optional: true,
  }));
}

/** `<repo>/release-channel:<channel>`, the cluster's own channel (so `updates: keep` finds it in the target). */
export function planReleaseChannel(sourceImage: string, targetImage: string, channel: string): ImageJob {
  const { source, target } = repositories(sourceImage, targetImage);
  return { source: inRepo(source, "release-channel", { tag: channel }), target: inRepo(target, "release-channel", { tag: channel }), optional: true };
}

export interface ModulePlan {
  module: ModuleSpec;
  /** `<repo>/modules/<name>`, source and target. */
  source: RepositoryName;
  target: RepositoryName;
  /** `<repo>/modules/<name>:<version>`. */
  image: ImageJob;
  /** `<repo>/modules/<name>/release:<channel>`. */
  release: ImageJob;
  /** `<repo>/modules/<name>@<digest>` for one digest of the module's images_digests.json. */
  component(digest: string): ImageJob;
}

export function planModule(sourceImage: string, targetImage: string, module: ModuleSpec): ModulePlan {
  const repos = repositories(sourceImage, targetImage);
  const source = { registry: repos.source.registry, repository: `${repos.source.repository}/modules/${module.name}` };
  const target = { registry: repos.target.registry, repository: `${repos.target.repository}/modules/${module.name}` };
  return {
    module,
    source,
    target,
    image: { source: { ...source, tag: module.version }, target: { ...target, tag: module.version } },
    release: { source: inRepo(source, "release", { tag: module.channel }), target: inRepo(target, "release", { tag: module.channel }) },
    component: (digest) => ({ source: { ...source, digest }, target: { ...target, digest } }),
  };
}

/** Per-group counts of a run's results (every group present, zero when it had no images). */
export function groupTotals(results: Array<{ group?: Group; status: string }>): Record<Group, GroupTotals> {
  const totals = Object.fromEntries(GROUPS.map((g) => [g, { images: 0, copied: 0, skipped: 0, failed: 0, missing: 0, absent: 0 }])) as Record<Group, GroupTotals>;
  for (const r of results) {
    const t = totals[r.group ?? "release"];
    t.images++;
    if (r.status in t && r.status !== "images") (t as unknown as Record<string, number>)[r.status]++;
  }
  return totals;
}
