// Re-points the `deckhouse` Deployment's containers from the old registry repository to the target one, keeping
// each tag or digest, the way Deckhouse's own `change-registry` helper does: only images under the old repository
// move; any other image (a third-party sidecar) is left as it is. The `deckhouse` container gets the target image.
import { z } from "zod";
import { formatReference, moduleRepository, parseImageReference, parseTaggedReference, type ImageReference, type RepositoryName } from "../../copier";

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

/** The repository named by the `deckhouse-registry` Secret's `address` and `path` (leading `/` or not); undefined unless both are set. */
export function repositoryFromSecret(address: string, path: string): RepositoryName | undefined {
  const registry = address.trim();
  const repository = path.trim().replace(/^\/+|\/+$/g, "");
  if (!registry || !repository) return undefined;
  return { registry, repository };
}

/**
 * The repository the cluster pulls from now: the Secret's `address` + `path` when it has them (what Deckhouse's
 * helper reads), else the `deckhouse` container's repository; a trailing `/dev` (dev builds) is stripped either way.
 */
export function oldRepository(current: PodTemplateImages, secretRepository?: RepositoryName): RepositoryName {
  if (secretRepository) return moduleRepository({ registry: secretRepository.registry, repository: secretRepository.repository });
  const deckhouse = current.containers.find((c) => c.name === DECKHOUSE_CONTAINER);
  const ref = deckhouse && tryParse(deckhouse.image);
  if (!ref) throw new Error(`cannot tell the current registry: the deckhouse-registry Secret has no "address" and "path", and the deckhouse container's image is not a valid reference`);
  return moduleRepository(ref);
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
  throw new Error(`image "${image}" is in the old registry repository but has neither a tag nor a digest; pin it (tag or digest) before switching`);
}

/**
 * The containers that change: `deckhouse` (and any container running the very same image, e.g. an init container
 * started from the Deckhouse image) gets `targetImage`; every other image under `old` keeps its tag or digest in the
 * target repository. Images outside `old` do not appear: they are neither changed nor checked.
 */
export function planImageChanges(current: PodTemplateImages, targetImage: string, old: RepositoryName): ImageChange[] {
  const target = parseTaggedReference(targetImage, "targetImage");
  const targetRef = formatReference(target);
  const repository = { registry: target.registry, repository: target.repository };
  const deckhouse = current.containers.find((c) => c.name === DECKHOUSE_CONTAINER);
  if (!deckhouse) {
    throw new Error(`Deployment d8-system/deckhouse has no container named "${DECKHOUSE_CONTAINER}" (has: ${current.containers.map((c) => c.name).join(", ")})`);
  }
  const changes: ImageChange[] = [];
  const plan = (kind: ContainerKind, c: ContainerImage) => {
    let to: string | undefined;
    if ((kind === "container" && c.name === DECKHOUSE_CONTAINER) || c.image === deckhouse.image) to = targetRef;
    else {
      try {
        to = repointImage(c.image, old, repository);
      } catch (err) {
        throw new Error(`${kind} "${c.name}": ${(err as Error).message}`);
      }
    }
    // Kept even when `to` equals `from` (a later `pulumi up`): dropping a container from the Server-Side Apply
    // patch would give up its `image` field, which the API server then removes.
    if (to !== undefined) changes.push({ kind, name: c.name, from: c.image, to });
  };
  for (const c of current.initContainers) plan("initContainer", c);
  for (const c of current.containers) plan("container", c);
  return changes;
}

/** The distinct new references, the ones that must exist in the target registry before anything changes. */
export function referencesToCheck(changes: ImageChange[]): string[] {
  return [...new Set(changes.map((c) => c.to))];
}
