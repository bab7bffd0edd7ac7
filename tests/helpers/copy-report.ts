// Reads the per-image statuses out of a copier report (the --report file or copyRelease's result).
import { z } from "zod";

const imageResult = z.object({ status: z.string() }).passthrough();
const report = z.object({ images: z.array(imageResult) }).passthrough();

export function reportStatuses(value: unknown): string[] {
  return report.parse(value).images.map((i) => i.status);
}
