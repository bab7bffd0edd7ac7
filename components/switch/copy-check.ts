// The first gate before a switch: the copy stack's record must describe a successful, verified copy to the same
// target image, with the release fields that tie the switch to the release that was copied.
import { formatReference, parseImageReference } from "../../copier";
import { copyRecordSchema, RELEASE_FIELDS, type CopyRecord } from "../copy-record";

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
