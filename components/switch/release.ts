// The second gate: the Deckhouse running now must be the release the copy stack copied. Deckhouse follows its
// release channel and can move to a newer release between the copy and the switch; the newer release's module
// images were never copied, so switching then would leave the cluster pulling images that do not exist.
import { COPY_AGAIN, sameImage, SwitchRefusedError, type VerifiedCopy } from "./copy-check";

/** The `deckhouse` container of one pod of the Deployment, as its status reports it. */
export interface RunningDeckhouse {
  pod: string;
  /** `status.containerStatuses[].imageID`: `docker-pullable://host/repo@sha256:…`, `host/repo@sha256:…`, or a local `sha256:…` id. */
  imageID?: string;
}

const REPO_DIGEST = /^(?:[a-z][a-z0-9+.-]*:\/\/)?[^@\s]+@(sha256:[a-f0-9]{64})$/;

/** The manifest digest in an imageID; undefined for a runtime's local image id (`sha256:…` alone names the config). */
export function digestOfImageID(imageID: string): string | undefined {
  return REPO_DIGEST.exec(imageID.trim())?.[1];
}

function release(record: VerifiedCopy): string {
  return `${record.deckhouseVersion ? `${record.deckhouseVersion}, ` : ""}"${record.sourceImage}" (${record.sourceDigest})`;
}

/**
 * Refuses unless the Deployment's deckhouse image is the copied one (or already on the target: a switch that was
 * interrupted, under the target tag or under the original tag Deckhouse itself renders after the registry changed)
 * and every deckhouse pod that reports an imageID runs the copied digest.
 */
export function requireCopiedRelease(record: VerifiedCopy, deckhouseImage: string, targetImage: string, pods: RunningDeckhouse[]): void {
  const prefix = "images-copier: refusing to switch:";
  const switched = sameImage(deckhouseImage, targetImage) || (record.originalTagImage !== undefined && sameImage(deckhouseImage, record.originalTagImage));
  if (!switched && !sameImage(deckhouseImage, record.sourceImage)) {
    throw new SwitchRefusedError(
      `${prefix} Deckhouse now runs "${deckhouseImage}", but the copy stack copied ${release(record)}; Deckhouse changed its release since the copy, whose module images are not in the target; ${COPY_AGAIN}`,
    );
  }
  const reporting = pods.filter((p) => p.imageID);
  for (const pod of reporting) {
    const digest = digestOfImageID(pod.imageID as string);
    if (!digest) {
      throw new SwitchRefusedError(
        `${prefix} cannot tell which release pod d8-system/${pod.pod} runs: its imageID "${pod.imageID}" names no registry digest; compare it with ${release(record)} by hand, or restart the pod so the runtime records the digest`,
      );
    }
    if (digest !== record.sourceDigest) {
      throw new SwitchRefusedError(
        `${prefix} pod d8-system/${pod.pod} runs Deckhouse ${digest}, but the copy stack copied ${release(record)}; Deckhouse updated itself since the copy (same image reference, another release); ${COPY_AGAIN}`,
      );
    }
  }
  // Not yet switched and nothing running to compare with: the release in the cluster is unknown.
  if (!switched && reporting.length === 0) {
    throw new SwitchRefusedError(
      `${prefix} no deckhouse pod reports its image digest (status.containerStatuses[].imageID), so the running release cannot be compared with the copied ${release(record)}; wait until the deckhouse pod runs, then preview again`,
    );
  }
}
