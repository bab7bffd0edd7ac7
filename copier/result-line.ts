// The machine-readable last line of every run, and the prefix of the periodic progress lines, both parsed by
// the copy stack from the Job's pod log.

import * as z from "zod";

export const RESULT_LINE_PREFIX = "images-copier result: ";
export const PROGRESS_LINE_PREFIX = "images-copier progress: ";

/**
 * Built per call, not held at module level: the copy stack's dynamic provider calls parseResultLine, and Pulumi's
 * closure serialization can carry a function that requires zod but not a zod schema object.
 */
export function resultSummarySchema() {
  return z.object({
    status: z.enum(["succeeded", "failed"]),
    images: z.number().int().nonnegative(),
    copied: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    bytes: z.number().nonnegative(),
    durationMs: z.number().nonnegative(),
    target: z.string(),
    /** Dry run only: images the target lacks. */
    missing: z.number().int().nonnegative().optional(),
    /** On failure: the first reason, one line. */
    error: z.string().optional(),
    /** The Deckhouse image as given (the source of the renamed tag) and the manifest digest it resolved to. */
    source: z.string().optional(),
    sourceDigest: z.string().regex(/^sha256:[a-f0-9]{64}$/).optional(),
    /** imagesListDigest of the list this run copied. */
    imagesDigest: z.string().regex(/^sha256:[a-f0-9]{64}$/).optional(),
    /** Counts per plan group (release, deckhouse, modules, security, updates). */
    groups: z
      .record(
        z.string(),
        z.object({ images: z.number().int().nonnegative(), copied: z.number().int().nonnegative(), skipped: z.number().int().nonnegative(), failed: z.number().int().nonnegative(), missing: z.number().int().nonnegative(), absent: z.number().int().nonnegative() }),
      )
      .optional(),
    /** The modules of this run and how each ended. */
    modules: z
      .array(z.object({ name: z.string(), version: z.string(), channel: z.string(), status: z.enum(["copied", "skipped", "failed", "missing"]) }))
      .optional(),
    /** `<target repo>:<original tag>`: the Deckhouse image is in the target under its source tag too (same digest). */
    originalTag: z.string().optional(),
  });
}

export type ResultSummary = z.infer<ReturnType<typeof resultSummarySchema>>;

export function formatResultLine(summary: ResultSummary): string {
  return `${RESULT_LINE_PREFIX}${JSON.stringify(summary)}`;
}

/** The summary from a result line (or from the last result line of a whole log); undefined when there is none. */
export function parseResultLine(text: string): ResultSummary | undefined {
  return parseLastLine(text, RESULT_LINE_PREFIX, resultSummarySchema());
}

/** The JSON after `prefix` on the last line of `text` that carries a valid one; undefined when none does. */
export function parseLastLine<T>(text: string, prefix: string, schema: z.ZodType<T>): T | undefined {
  for (const line of text.split(/\r?\n/).reverse()) {
    const at = line.indexOf(prefix);
    if (at < 0) continue;
    try {
      const parsed = schema.safeParse(JSON.parse(line.slice(at + prefix.length)));
      if (parsed.success) return parsed.data;
    } catch {
      // not JSON: keep looking
    }
  }
  return undefined;
}
