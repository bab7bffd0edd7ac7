// The first gate before a switch: the copy stack's record must describe a successful, verified copy to the same
// target image, with the release fields that tie the switch to the release that was copied.
import { formatReference, formatRepository, parseImageReference, parseRepositoryName } from "../../copier";
import { copyRecordSchema, RELEASE_FIELDS, type CopyRecord } from "../copy-record";
import type { RegistryPath } from "../registry-mode";

/** A copy record with every field the switch relies on. */
export type VerifiedCopy = CopyRecord & { [K in (typeof RELEASE_FIELDS)[number]]-?: NonNullable<CopyRecord[K]> };

export class SwitchRefusedError extends Error {
  override name = "SwitchRefusedError";
}

/** The advice every "copy again" refusal ends with. */
export const COPY_AGAIN = "run the copy stack again (change runId: `pulumi config set runId <new value>`, then `pulumi up` on the copy stack), then preview this stack again";

/** The same image, however it is spelled (`docker.io/library/x` = `x`, spaces around it). */
export function sameImage(a: string, b: string): boolean {
  try {
    return formatReference(parseImageReference(a)) === formatReference(parseImageReference(b));
  } catch {
    return a.trim() === b.trim();
  }
}

type CopyPath = NonNullable<CopyRecord["registryPath"]>;

/** The cluster's registry path as the copy record names it (legacy also with the module enabled); undefined when refused. */
export function copyPathOf(path: RegistryPath): CopyPath | undefined {
  if (path.path === "legacy" || path.path === "module-legacy") return "legacy";
  return path.path === "module" ? path.mode : undefined;
}

function normalizedRepo(repo: string): string {
  try {
    return formatRepository(parseRepositoryName(repo.trim().replace(/\/+$/, "")));
  } catch {
    return repo.trim();
  }
}

const pathWords = (p: CopyPath) => (p === "legacy" ? "the legacy Secret d8-system/deckhouse-registry" : `registry mode ${p} of ModuleConfig deckhouse`);

/**
 * Refuses when the cluster keeps its registry another way than when the copy read it (a record without the field is
 * from a legacy read): the copy's source may not be the cluster's registry any more. Legacy to configurable Unmanaged
 * is the documented migration (the switch's own first step): allowed while `imagesRepo` is the copied repository or
 * already the target.
 */
export function requireSameRegistryPath(record: CopyRecord, current: RegistryPath, targetRepository: string): void {
  const now = copyPathOf(current);
  if (now === undefined) return; // a refused path: the gate says why itself
  const then: CopyPath = record.registryPath ?? "legacy";
  if (now === then) return;
  if (then === "legacy" && current.path === "module" && now === "Unmanaged") {
    const repo = normalizedRepo(current.section.imagesRepo);
    if ((record.sourceRepository && repo === normalizedRepo(record.sourceRepository)) || repo === normalizedRepo(targetRepository)) return;
  }
  throw new SwitchRefusedError(
    `images-copier: refusing to switch: the copy read the vendor's registry from ${pathWords(then)}, but the cluster now keeps it in ${pathWords(now)}; the copied source may not be the cluster's registry any more; ${COPY_AGAIN}`,
  );
}

/** Returns the record when it allows switching to `targetImage`; throws a one-line SwitchRefusedError otherwise. */
export function requireVerifiedCopy(copy: unknown, targetImage: string, copyStack: string): VerifiedCopy {
  const prefix = `images-copier: refusing to switch: copy stack "${copyStack}"`;
  if (copy === undefined || copy === null) {
    throw new SwitchRefusedError(`${prefix} has no "copy" output; run the copy stack (stage: copy) to a successful end first`);
  }
  const parsed = copyRecordSchema.safeParse(copy);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SwitchRefusedError(`${prefix} has a malformed "copy" output (${issue.path.join(".") || "copy"}: ${issue.message}); ${COPY_AGAIN}`);
  }
  const record = parsed.data;
  if (record.status !== "succeeded") {
    throw new SwitchRefusedError(`${prefix} reports copy status "${record.status}", not "succeeded"; fix the copy and ${COPY_AGAIN}`);
  }
  if (record.verified !== true) {
    throw new SwitchRefusedError(`${prefix} reports a copy that was not verified; ${COPY_AGAIN}`);
  }
  if (!sameImage(record.targetImage, targetImage)) {
    throw new SwitchRefusedError(`${prefix} copied to "${record.targetImage}", but this stack's targetImage is "${targetImage}"`);
  }
  const missing = RELEASE_FIELDS.filter((field) => record[field] === undefined);
  if (missing.length > 0) {
    throw new SwitchRefusedError(
      `${prefix} comes from an older copy stack: its "copy" output lacks ${missing.join(", ")}, so the switch cannot tell which Deckhouse release was copied; ${COPY_AGAIN}`,
    );
  }
  return record as VerifiedCopy;
}
