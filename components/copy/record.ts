// The copy stack's `copy` output: what a successful run copied, in the shape the switch stack requires
// (copyRecordSchema). Built once the CopyRun succeeded; a failed run fails the update instead.
import { formatRepository, moduleRepository, parseImageReference } from "../../copier";
import { copyRecordSchema, type CopyRecord } from "../copy-record";
import type { CopyRegistryPath } from "./module-source";
import type { CopySummary } from "./run-provider";

export interface RunFacts {
  status: "succeeded" | "failed" | "timeout";
  summary?: CopySummary;
  runId: string;
  targetImage: string;
  /** The deckhouse container's image exactly as it was in the Deployment. */
  sourceImage: string;
  updateImages: boolean;
  /** Where the copy read the vendor's registry (legacy Secret or the configurable mode's section). */
  registryPath?: CopyRegistryPath;
  /** The running release as the release check found it. */
  deckhouseVersion?: string;
  /** Whether the run was asked for the security databases, and for which release channel. */
  securityDatabases?: boolean;
  releaseChannel?: string;
}

/** The record, validated against the contract: a field missing on success is a bug here, not a silent gap. */
export function copyRecordOf(facts: RunFacts): CopyRecord {
  const { summary } = facts;
  const record: CopyRecord = {
    status: facts.status,
    // The copier exits 0 only when every image is in the target and verified by digest; the run records the
    // result line only from such a run, with the source's digest and the list's digest.
    verified: facts.status === "succeeded" && summary !== undefined && summary.failed === 0,
    targetImage: facts.targetImage,
    runId: facts.runId,
    sourceImage: facts.sourceImage,
    sourceRepository: formatRepository(moduleRepository(parseImageReference(facts.sourceImage))),
    updateImages: facts.updateImages,
    ...(facts.registryPath ? { registryPath: facts.registryPath } : {}),
    ...(facts.deckhouseVersion ? { deckhouseVersion: facts.deckhouseVersion } : {}),
    ...(summary
      ? {
          sourceDigest: summary.sourceDigest,
          imagesDigest: summary.imagesDigest,
          images: summary.images,
          copied: summary.copied,
          skipped: summary.skipped,
          bytes: summary.bytes,
          durationMs: summary.durationMs,
          ...(summary.groups
            ? { groups: Object.fromEntries(Object.entries(summary.groups).map(([g, t]) => [g, { images: t.images, copied: t.copied, skipped: t.skipped, failed: t.failed, absent: t.absent }])) }
            : {}),
          ...(summary.modules ? { modules: summary.modules.filter((m) => m.status === "copied" || m.status === "skipped").map(({ name, version }) => ({ name, version })) } : {}),
          ...(summary.groups && facts.securityDatabases ? { securityDatabases: (summary.groups.security?.failed ?? 1) === 0 } : {}),
          ...(summary.groups && facts.releaseChannel ? { releaseChannel: facts.releaseChannel } : {}),
          ...(summary.originalTag ? { originalTagImage: summary.originalTag } : {}),
        }
      : {}),
  };
  return copyRecordSchema.parse(record);
}
