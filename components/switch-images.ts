// Re-points the `deckhouse` Deployment's containers to the target repository, keeping each tag or digest,
// the way Deckhouse's own `change-registry` helper does; the `deckhouse` container gets the target image itself.
import { z } from "zod";
import { formatReference, parseImageReference, parseTaggedReference } from "../copier";

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

/** `image` moved into `repository` (`host/path`), same digest (preferred) or same tag. */
export function repointImage(image: string, repository: { registry: string; repository: string }): string {
  const ref = parseImageReference(image);
  if (ref.digest) return formatReference({ ...repository, digest: ref.digest });
  return formatReference({ ...repository, tag: ref.tag ?? "latest" });
}

/** Every container's new image: `deckhouse` gets `targetImage`, the others keep their tag or digest in its repository. */
export function planImageChanges(current: PodTemplateImages, targetImage: string): ImageChange[] {
  const target = parseTaggedReference(targetImage, "targetImage");
  const repository = { registry: target.registry, repository: target.repository };
  if (!current.containers.some((c) => c.name === DECKHOUSE_CONTAINER)) {
    throw new Error(`Deployment d8-system/deckhouse has no container named "${DECKHOUSE_CONTAINER}" (has: ${current.containers.map((c) => c.name).join(", ")})`);
  }
  const changes: ImageChange[] = [];
  for (const c of current.initContainers) changes.push({ kind: "initContainer", name: c.name, from: c.image, to: repointImage(c.image, repository) });
  for (const c of current.containers) {
    const to = c.name === DECKHOUSE_CONTAINER ? targetImage.trim() : repointImage(c.image, repository);
    changes.push({ kind: "container", name: c.name, from: c.image, to });
  }
  return changes;
}

/** The distinct new references, the ones that must exist in the target registry before anything changes. */
export function referencesToCheck(changes: ImageChange[]): string[] {
  return [...new Set(changes.map((c) => c.to))];
}
