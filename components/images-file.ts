// An image list given by file (`imagesFile`): the same two-level shape as the release's images_digests.json.
import { readFileSync } from "node:fs";
import { z } from "zod";

const imagesListSchema = z.record(z.string().min(1), z.record(z.string().min(1), z.string().min(1)));

export function readImagesFile(path: string): Record<string, Record<string, string>> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`images-copier:imagesFile: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`images-copier:imagesFile: ${path} is not JSON`);
  }
  const parsed = imagesListSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`images-copier:imagesFile: ${path} must be {"<module>": {"<image>": "<tag or sha256 digest>"}} (exactly two levels)`);
  }
  return parsed.data;
}
