// Re-points the `deckhouse` Deployment's containers from the copied (source) repository to the target one, keeping
// each tag or digest, the way Deckhouse's own `change-registry` helper does: only images under the source
// repository move; any other image (a third-party sidecar) is left as it is. The `deckhouse` container gets the
// target image.
import { z } from "zod";
import { formatReference, parseImageReference, parseTaggedReference, type ImageReference, type RepositoryName } from "../../copier";

export const DECKHOUSE_CONTAINER = "deckhouse";

const containerSchema = z.object({ name: z.string().min(1), image: z.string().min(1) });

/** The part of a Deployment the switch reads: its pod template's containers and init containers. */
export const deploymentImagesSchema = z.object({
  spec: z.object({
    template: z.object({
      spec: z.object({
        containers: z.array(containerSchema).min(1),
        initContainers: z.array(containerSchema).optional(),
      }),
    }),
  }),
});

export interface ContainerImage {
  name: string;
  image: string;
}

export interface PodTemplateImages {
  containers: ContainerImage[];
  initContainers: ContainerImage[];
}

export type ContainerKind = "container" | "initContainer";

export interface ImageChange {
  kind: ContainerKind;
  name: string;
  from: string;
  to: string;
}

/** Reads the container images of a Deployment object; a clear error when it is not shaped like one. */
export function deploymentImages(deployment: unknown, shownAs = "Deployment d8-system/deckhouse"): PodTemplateImages {
  const parsed = deploymentImagesSchema.safeParse(deployment);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${shownAs} has no usable pod template (${issue.path.join(".")}: ${issue.message})`);
  }
  const spec = parsed.data.spec.template.spec;
  const pick = (c: ContainerImage) => ({ name: c.name, image: c.image });
  return { containers: spec.containers.map(pick), initContainers: (spec.initContainers ?? []).map(pick) };
}

function tryParse(image: string): ImageReference | undefined {
  try {
    return parseImageReference(image);
  } catch {
    return undefined;
  }
}

/** The path of `ref` below `repo` ("" for the repository itself), or undefined when `ref` is not under it. */
function pathBelow(ref: ImageReference, repo: RepositoryName): string | undefined {
  if (ref.registry !== repo.registry) return undefined;
  if (ref.repository === repo.repository) return "";
  return ref.repository.startsWith(`${repo.repository}/`) ? ref.repository.slice(repo.repository.length + 1) : undefined;
}

/**
 * `image` moved from `from` into `to` with the same digest (preferred) or tag, or undefined when `image` is not
 * under `from` (left as it is). `from/dev` maps to `to` itself; another sub-path keeps its suffix. An image under
 * `from` without tag or digest is an error: it would mean `latest`, which the copy never copies.
 */
export function repointImage(image: string, from: RepositoryName, to: RepositoryName): string | undefined {
  const ref = tryParse(image);
  if (!ref) return undefined;
  const below = pathBelow(ref, from);
  if (below === undefined) return undefined;
  const suffix = below === "" || below === "dev" ? "" : `/${below}`;
  const repository = { registry: to.registry, repository: `${to.repository}${suffix}` };
  if (ref.digest) return formatReference({ ...repository, digest: ref.digest });
  if (ref.tag) return formatReference({ ...repository, tag: ref.tag });
  throw new Error(`image "${image}" is in the registry repository ${from.registry}/${from.repository} but has neither a tag nor a digest; pin it (tag or digest) before switching`);
}

/** Which of the two repositories `ref` is under; the deeper one when one repository lies below the other. */
function sideOf(ref: ImageReference, source: RepositoryName, target: RepositoryName): "source" | "target" | undefined {
  const underSource = pathBelow(ref, source) !== undefined;
  const underTarget = pathBelow(ref, target) !== undefined;
  if (underSource && underTarget) return source.repository.length >= target.repository.length ? "source" : "target";
  return underSource ? "source" : underTarget ? "target" : undefined;
}

/**
 * The containers the switch owns, each with its image on the vendor's side (`from`) and on the customer's
 * (`to`). Both come from the copy record, not from the cluster's current state, so the plan is the same before
 * the switch, half-way through it (some containers already re-pointed) and after it:
 * - the `deckhouse` container, and any container running the copied Deckhouse image or already the target
 *   image, goes from `sourceImage` to `targetImage` (the copy renamed that tag);
 * - an image under the source repository keeps its tag or digest in the target repository;
 * - an image already under the target repository stays, and its `from` is the same reference in the source.
 * Images outside both (a third-party sidecar) do not appear: they are neither changed nor checked.
 */
export function planImageChanges(current: PodTemplateImages, targetImage: string, source: RepositoryName, sourceImage: string): ImageChange[] {
  const target = parseTaggedReference(targetImage, "targetImage");
  const targetRef = formatReference(target);
  const targetRepo = { registry: target.registry, repository: target.repository };
  if (!current.containers.some((c) => c.name === DECKHOUSE_CONTAINER)) {
    throw new Error(`Deployment d8-system/deckhouse has no container named "${DECKHOUSE_CONTAINER}" (has: ${current.containers.map((c) => c.name).join(", ")})`);
  }
  const isDeckhouseImage = (image: string) => sameReference(image, sourceImage) || sameReference(image, targetRef);
  const changes: ImageChange[] = [];
  const plan = (kind: ContainerKind, c: ContainerImage) => {
    if ((kind === "container" && c.name === DECKHOUSE_CONTAINER) || isDeckhouseImage(c.image)) {
      changes.push({ kind, name: c.name, from: sourceImage, to: targetRef });
      return;
    }
    const ref = tryParse(c.image);
    const side = ref && sideOf(ref, source, targetRepo);
    try {
      if (side === "source") changes.push({ kind, name: c.name, from: c.image, to: repointImage(c.image, source, targetRepo) as string });
      // Kept in the plan once re-pointed: dropping a container from the Server-Side Apply patch would give up its
      // `image` field, which the API server then removes.
      if (side === "target") changes.push({ kind, name: c.name, from: repointImage(c.image, targetRepo, source) as string, to: formatReference(ref as ImageReference) });
    } catch (err) {
      throw new Error(`${kind} "${c.name}": ${(err as Error).message}`);
    }
  };
  for (const c of current.initContainers) plan("initContainer", c);
  for (const c of current.containers) plan("container", c);
  return changes;
}

function sameReference(a: string, b: string): boolean {
  const ra = tryParse(a);
  const rb = tryParse(b);
  return ra !== undefined && rb !== undefined && formatReference(ra) === formatReference(rb);
}

/** The distinct new references, the ones that must exist in the target registry before anything changes. */
export function referencesToCheck(changes: ImageChange[]): string[] {
  return [...new Set(changes.map((c) => c.to))];
}
