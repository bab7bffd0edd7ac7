// Deckhouse releases before v1.51 run their own images-copier hook: it watches Secret d8-system/images-copier-config
// (the name this stack writes), starts its own Job copy-images from it, and deletes a copy-images Job that has no
// such Secret. So the copy stack finds out which release runs and refuses such a release before creating anything.
//
// Signals, in order (the first that names a version decides):
// 1. the `core.deckhouse.io/version` annotation Deckhouse writes on its own Deployment (the content of
//    /deckhouse/version of the running image; "unknown" when Deckhouse could not read it, a branch name on dev builds);
// 2. the DeckhouseRelease (deckhouse.io/v1alpha1, cluster-scoped) in phase Deployed (only with a release channel);
// 3. the deckhouse container's image tag, when it is a version (a channel name such as `rock-solid` is not);
// 4. the stack's `deckhouseVersion`, for a cluster that says nothing (the operator states what runs).
import { z } from "zod";
import { parseImageReference } from "../../copier";
import { apiPath, isKubeStatus, type KubeClient } from "../kube";

export const VERSION_ANNOTATION = "core.deckhouse.io/version";
/** The first release without the hook (Deckhouse PR "Remove images copier from deckhouse module", 2023-09). */
export const HOOK_REMOVED_IN = { major: 1, minor: 51 } as const;

export interface DeckhouseVersion {
  major: number;
  minor: number;
  text: string;
}

export interface DeckhouseRelease {
  /** e.g. v1.58.2 */
  version: string;
  /** Where it was read, in words (shown in the preview and in refusals). */
  source: string;
}

export interface ReleaseSignals {
  /** The Deployment's `core.deckhouse.io/version` annotation. */
  annotation?: string;
  /** The deckhouse container's image. */
  image: string;
  /** The stack's `deckhouseVersion`. */
  configured?: string;
  /** Lists DeckhouseRelease objects; asked only when the annotation names no version. */
  listReleases(): Promise<unknown[]>;
}

export class ReleaseCheckError extends Error {
  override name = "ReleaseCheckError";
}

/** `v1.46.3`, `1.46`, `v1.58.0-alpha.1` → major and minor; anything else (`dev`, `unknown`, `rock-solid`) → undefined. */
export function parseDeckhouseVersion(text: string | undefined): DeckhouseVersion | undefined {
  const match = text?.trim().match(/^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+][0-9A-Za-z.-]+)?$/);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), text: text!.trim() };
}

export function runsImagesCopierHook(version: DeckhouseVersion): boolean {
  return version.major < HOOK_REMOVED_IN.major || (version.major === HOOK_REMOVED_IN.major && version.minor < HOOK_REMOVED_IN.minor);
}

const releaseList = z.array(
  z.object({
    spec: z.object({ version: z.string().nullish() }).nullish(),
    status: z.object({ phase: z.string().nullish() }).nullish(),
  }),
);

/** The version of the Deployed DeckhouseRelease (the highest, should there be several), or why there is none. */
async function deployedRelease(listReleases: () => Promise<unknown[]>): Promise<{ version?: DeckhouseVersion; note: string }> {
  let items: unknown[];
  try {
    items = await listReleases();
  } catch (error) {
    // 404: no DeckhouseRelease resource in this cluster (a release without it)
    if (isKubeStatus(error, 404)) return { note: "no DeckhouseRelease resource" };
    return { note: `DeckhouseReleases could not be listed (${(error as Error).message})` };
  }
  const parsed = releaseList.safeParse(items);
  const versions = (parsed.success ? parsed.data : [])
    .filter((r) => r.status?.phase === "Deployed")
    .map((r) => parseDeckhouseVersion(r.spec?.version ?? undefined))
    .filter((v): v is DeckhouseVersion => v !== undefined)
    .sort((a, b) => b.major - a.major || b.minor - a.minor);
  return versions[0] ? { version: versions[0], note: "" } : { note: "no DeckhouseRelease is Deployed" };
}

/** Which Deckhouse release runs, from the first signal that names a version; throws when none does. */
export async function findDeckhouseRelease(signals: ReleaseSignals): Promise<DeckhouseRelease & { parsed: DeckhouseVersion }> {
  const annotated = parseDeckhouseVersion(signals.annotation);
  if (annotated) return { version: annotated.text, parsed: annotated, source: `annotation ${VERSION_ANNOTATION} of d8-system/deckhouse` };

  const released = await deployedRelease(signals.listReleases);
  if (released.version) return { version: released.version.text, parsed: released.version, source: "the Deployed DeckhouseRelease" };

  const tag = parseImageReference(signals.image).tag;
  const tagged = parseDeckhouseVersion(tag);
  if (tagged) return { version: tagged.text, parsed: tagged, source: `the tag of the deckhouse image ${signals.image}` };

  const configured = parseDeckhouseVersion(signals.configured);
  if (configured) return { version: configured.text, parsed: configured, source: "the stack's deckhouseVersion (the cluster does not say)" };

  const annotation = signals.annotation === undefined ? `no ${VERSION_ANNOTATION} annotation` : `${VERSION_ANNOTATION} is "${signals.annotation}"`;
  const image = tag ? `the image tag "${tag}" is not a version` : "the image has no tag";
  throw new ReleaseCheckError(
    `images-copier: refusing to copy: cannot tell which Deckhouse release runs (d8-system/deckhouse has ${annotation}; ${released.note}; ${image}). ` +
      `Releases before v${HOOK_REMOVED_IN.major}.${HOOK_REMOVED_IN.minor} run Deckhouse's own images-copier hook on Secret d8-system/images-copier-config. ` +
      `If this one is v${HOOK_REMOVED_IN.major}.${HOOK_REMOVED_IN.minor} or later, say which: pulumi config set deckhouseVersion v1.NN.N`,
  );
}

/** The running release, when it has no images-copier hook; else a one-line refusal. */
export async function requireReleaseWithoutHook(signals: ReleaseSignals): Promise<DeckhouseRelease> {
  const release = await findDeckhouseRelease(signals);
  if (runsImagesCopierHook(release.parsed)) {
    throw new ReleaseCheckError(
      `images-copier: refusing to copy: Deckhouse ${release.version} (${release.source}) still runs its own images-copier hook, ` +
        `which takes over Secret d8-system/images-copier-config and Job d8-system/copy-images (releases before v${HOOK_REMOVED_IN.major}.${HOOK_REMOVED_IN.minor}); ` +
        `update Deckhouse to v${HOOK_REMOVED_IN.major}.${HOOK_REMOVED_IN.minor} or later first`,
    );
  }
  return { version: release.version, source: release.source };
}

/** Lists DeckhouseRelease objects through the cluster's API. */
export async function listDeckhouseReleases(kube: KubeClient): Promise<unknown[]> {
  return (await kube.list(apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "deckhousereleases" }))).items;
}
