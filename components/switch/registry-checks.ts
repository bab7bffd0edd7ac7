// The third gate, on the target registry, before anything changes: it asks for Bearer tokens (as Deckhouse's
// `change-registry` checks), every new image reference exists, and the target image is the copied release's
// digest. The facts come from the copier (run here, or by the check Job in the cluster); the verdict is made here,
// by the same rules wherever the facts came from.
import { checkBearerAuth, checkImagesExist, type BearerCheckResult, type ExistenceResult, type RegistryAccess } from "../../copier";
import { COPY_AGAIN } from "./copy-check";

/** The copier's two checks; tests substitute them. */
export interface RegistryChecker {
  bearer(registry: string, access: RegistryAccess): Promise<BearerCheckResult>;
  exists(references: string[], access: RegistryAccess, opts?: { concurrency?: number }): Promise<ExistenceResult[]>;
}

export const copierRegistryChecker: RegistryChecker = {
  bearer: (registry, access) => checkBearerAuth(registry, access),
  exists: (references, access, opts) => checkImagesExist(references, access, opts),
};

/** What must hold in the target registry. */
export interface RegistryExpectations {
  /** Every new image reference of the switch, and the release-channel image when updates are kept. */
  references: string[];
  /** The target image must carry the copied release's digest. */
  targetImage: string;
  sourceDigest: string;
  /** Set with `updates: keep`: the `<repo>/release-channel:<channel>` reference. */
  releaseChannelImage?: string;
}

const PREFIX = "images-copier: refusing to switch:";

/** The one-line refusal the facts call for, or undefined when the target registry is ready. */
export function registryRefusal(bearer: BearerCheckResult | undefined, results: ExistenceResult[], expect: RegistryExpectations): string | undefined {
  if (!bearer) return `${PREFIX} the target registry's authentication was not checked`;
  if (!bearer.ok) return `${PREFIX} ${bearer.message}`;
  const byReference = new Map(results.map((r) => [r.reference, r]));
  const found = (reference: string) => byReference.get(reference) ?? { reference, exists: false, error: "not checked" };
  const missing = expect.references.map(found).filter((r) => !r.exists);
  if (missing.length > 0) {
    const listed = missing.map((m) => (m.error ? `${m.reference} (${m.error})` : m.reference)).join(", ");
    const channel = missing.some((m) => m.reference === expect.releaseChannelImage)
      ? `; ${expect.releaseChannelImage} is needed because updates are kept: copy with copyUpdateImages true, or set updates to disable`
      : "";
    return `${PREFIX} ${missing.length} of ${expect.references.length} image(s) are not in the target registry: ${listed}${channel}`;
  }
  const target = found(expect.targetImage);
  if (target.digest && target.digest !== expect.sourceDigest) {
    return `${PREFIX} ${expect.targetImage} in the target registry is ${target.digest}, not the copied release ${expect.sourceDigest} (the tag was pushed over since the copy); ${COPY_AGAIN}`;
  }
  return undefined;
}

/** Runs both checks from where this program runs and returns the refusal, if any. */
export async function checkRegistryHere(registry: string, access: RegistryAccess, expect: RegistryExpectations, checker: RegistryChecker = copierRegistryChecker): Promise<string | undefined> {
  const [bearer, results] = await Promise.all([checker.bearer(registry, access), checker.exists(expect.references, access, { concurrency: 8 })]);
  return registryRefusal(bearer, results, expect);
}
