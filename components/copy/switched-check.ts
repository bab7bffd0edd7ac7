// A copy run against a cluster that the switch stack has already moved onto the target: its "source" would be the
// target itself. Copying the target into itself proves nothing and the new record would describe the target as
// the vendor's release, so the copy stack refuses before it declares anything.
import { formatRepository, moduleRepository, parseImageReference, parseRepositoryName, parseTaggedReference } from "../../copier";

export class AlreadySwitchedError extends Error {
  override name = "AlreadySwitchedError";
}

const WHAT_TO_DO =
  "the cluster was switched already; to copy a release again, first switch back (`pulumi destroy` on the switch stack), or keep the copy stack's last record as it is";

function repositoryOf(image: string): string | undefined {
  try {
    return formatRepository(moduleRepository(parseImageReference(image)));
  } catch {
    return undefined;
  }
}

/**
 * Throws a one-line AlreadySwitchedError when the cluster already pulls Deckhouse from `targetImage`'s repository:
 * the Deployment's deckhouse image is there (a `/dev` build counts as its repository), or the ModuleConfig's
 * registry section names it as `imagesRepo` (configurable registry modes).
 */
export function requireNotSwitched(targetImage: string, seen: { deckhouseImage: string; imagesRepo?: string }): void {
  const target = formatRepository(parseTaggedReference(targetImage, "targetImage"));
  if (repositoryOf(seen.deckhouseImage) === target) {
    throw new AlreadySwitchedError(`images-copier: refusing to copy: Deckhouse already runs "${seen.deckhouseImage}" from the target repository ${target}; ${WHAT_TO_DO}`);
  }
  if (seen.imagesRepo !== undefined) {
    let repo: string | undefined;
    try {
      repo = formatRepository(parseRepositoryName(seen.imagesRepo.trim().replace(/\/+$/, "")));
    } catch {
      repo = undefined;
    }
    if (repo === target) {
      throw new AlreadySwitchedError(`images-copier: refusing to copy: ModuleConfig deckhouse already has imagesRepo "${seen.imagesRepo}", the target repository; ${WHAT_TO_DO}`);
    }
  }
}
