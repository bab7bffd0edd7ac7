// The copier's last stdout line, `images-copier result: {...}` (contract with copier/result-line.ts), read from the pod log.
import type { z as Zod } from "zod";

export const RESULT_PREFIX = "images-copier result: ";
export const PROGRESS_PREFIX = "images-copier progress: ";

/** Built on demand: the waiter is closure-serialized into the dynamic provider, where zod is required at run time. */
export function copierResultSchema() {
  const { z } = require("zod") as { z: typeof Zod };
  return z.object({
    status: z.enum(["succeeded", "failed"]),
    images: z.number().int().nonnegative(),
    copied: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    bytes: z.number().nonnegative(),
    durationMs: z.number().nonnegative(),
    target: z.string(),
  });
}
export type CopierResult = Zod.infer<ReturnType<typeof copierResultSchema>>;

/** The last result line in a log, or undefined when there is none (or it is malformed). */
export function findResultLine(log: string): CopierResult | undefined {
  const lines = log.split("\n").reverse();
  for (const line of lines) {
    const at = line.indexOf(RESULT_PREFIX);
    if (at < 0) continue;
    try {
      const parsed = copierResultSchema().safeParse(JSON.parse(line.slice(at + RESULT_PREFIX.length)));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 2)} ${units[unit]}`;
}
