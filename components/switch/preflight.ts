// Before anything changes: every new image reference must already exist in the target registry.
import { checkImagesExist, type ExistenceResult } from "../../copier";

export interface RegistryAccess {
  username?: string;
  password?: string;
  insecure?: boolean;
  ca?: string;
}

export type ImageChecker = (references: string[], access: RegistryAccess, opts?: { concurrency?: number }) => Promise<ExistenceResult[]>;

export class MissingImagesError extends Error {
  override name = "MissingImagesError";
  constructor(
    readonly missing: ExistenceResult[],
    total: number,
  ) {
    const listed = missing.map((m) => (m.error ? `${m.reference} (${m.error})` : m.reference)).join(", ");
    super(`images-copier: refusing to switch: ${missing.length} of ${total} image(s) are not in the target registry: ${listed}`);
  }
}

/** Resolves when every reference exists; rejects with one MissingImagesError naming each missing one otherwise. */
export async function requireImagesExist(references: string[], access: RegistryAccess, checker: ImageChecker = checkImagesExist): Promise<void> {
  const results = await checker(references, access, { concurrency: 8 });
  const byReference = new Map(results.map((r) => [r.reference, r]));
  const missing = references.map((reference) => byReference.get(reference) ?? { reference, exists: false, error: "not checked" }).filter((r) => !r.exists);
  if (missing.length > 0) throw new MissingImagesError(missing, references.length);
}
