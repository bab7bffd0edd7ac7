// The gate before a switch: the copy stack must report a successful, verified copy to the same target image.
import { z } from "zod";
import { formatReference, parseImageReference } from "../../copier";

/** The `copy` output the switch stage requires from the copy stack (other fields are shown, not required). */
export const copyOutcomeSchema = z.object({
  status: z.string(),
  targetImage: z.string(),
  verified: z.boolean(),
  images: z.number().optional(),
  copied: z.number().optional(),
  skipped: z.number().optional(),
  bytes: z.number().optional(),
  durationMs: z.number().optional(),
  runId: z.string().optional(),
});

export type CopyOutcome = z.infer<typeof copyOutcomeSchema>;

export class SwitchRefusedError extends Error {
  override name = "SwitchRefusedError";
}

function sameImage(a: string, b: string): boolean {
  try {
    return formatReference(parseImageReference(a)) === formatReference(parseImageReference(b));
  } catch {
    return a.trim() === b.trim();
  }
}

/** Returns the copy outcome when it allows switching to `targetImage`; throws a one-line SwitchRefusedError otherwise. */
export function requireVerifiedCopy(copy: unknown, targetImage: string, copyStack: string): CopyOutcome {
  const prefix = `images-copier: refusing to switch: copy stack "${copyStack}"`;
  if (copy === undefined || copy === null) {
    throw new SwitchRefusedError(`${prefix} has no "copy" output; run the copy stack (stage: copy) to a successful end first`);
  }
  const parsed = copyOutcomeSchema.safeParse(copy);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SwitchRefusedError(`${prefix} has a malformed "copy" output (${issue.path.join(".") || "copy"}: ${issue.message})`);
  }
  const outcome = parsed.data;
  if (outcome.status !== "succeeded") {
    throw new SwitchRefusedError(`${prefix} reports copy status "${outcome.status}", not "succeeded"; fix the copy and run it again (change runId)`);
  }
  if (outcome.verified !== true) {
    throw new SwitchRefusedError(`${prefix} reports a copy that was not verified`);
  }
  if (!sameImage(outcome.targetImage, targetImage)) {
    throw new SwitchRefusedError(`${prefix} copied to "${outcome.targetImage}", but this stack's targetImage is "${targetImage}"`);
  }
  return outcome;
}
