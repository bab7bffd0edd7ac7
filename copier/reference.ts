// Image references: `host[:port]/path[:tag][@digest]`, parsed and printed the way registries and docker do.

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/;

export const DOCKER_HUB = "docker.io";
/** The host serving Docker Hub's registry API (docker.io itself does not). */
const DOCKER_HUB_ENDPOINT = "registry-1.docker.io";

export interface RepositoryName {
  /** `host[:port]`, e.g. `registry.deckhouse.io` or `127.0.0.1:5000`. */
  registry: string;
  /** Path inside the registry, e.g. `deckhouse/ee`. */
  repository: string;
}

export interface ImageReference extends RepositoryName {
  tag?: string;
  digest?: string;
}

export class InvalidReferenceError extends Error {
  override name = "InvalidReferenceError";
}

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export function isTag(value: string): boolean {
  return TAG.test(value);
}

/** Parses `host[:port]/path[:tag][@digest]`; a name without a registry host means Docker Hub, as docker does. */
export function parseImageReference(input: string): ImageReference {
  const text = input.trim();
  if (!text) throw new InvalidReferenceError("image reference is empty");
  if (/\s/.test(text)) throw new InvalidReferenceError(`image reference "${input}" contains white space`);

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw new InvalidReferenceError(`image reference "${input}" has an invalid digest "${digest}"`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) throw new InvalidReferenceError(`image reference "${input}" has an invalid tag "${tag}"`);
  }

  const { registry, repository } = parseRepositoryName(rest, input);
  return { registry, repository, tag, digest };
}

/** Parses `host[:port]/path` (no tag, no digest). */
export function parseRepositoryName(text: string, shownAs = text): RepositoryName {
  const parts = text.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && (parts[0].includes(".") || parts[0].includes(":") || parts[0] === "localhost")) {
    registry = parts.shift() as string;
    if (!HOST.test(registry)) throw new InvalidReferenceError(`image reference "${shownAs}" has an invalid registry host "${registry}"`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  for (const part of parts) {
    if (!PATH_COMPONENT.test(part)) {
      throw new InvalidReferenceError(
        `image reference "${shownAs}" has an invalid repository path "${parts.join("/")}" (lower-case letters, digits and . _ - only)`,
      );
    }
  }
  const repository = parts.join("/");
  if (registry.length + 1 + repository.length > 255) {
    throw new InvalidReferenceError(`image reference "${shownAs}" is longer than 255 characters`);
  }
  return { registry, repository };
}

/** The host to send a registry's API requests to: Docker Hub's `docker.io` is served by registry-1.docker.io. */
export function registryEndpoint(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : registry;
}

/** Like parseImageReference, but the reference must carry a tag (a target image's tag is mandatory). */
export function parseTaggedReference(input: string, what = "image"): ImageReference & { tag: string } {
  const ref = parseImageReference(input);
  if (!ref.tag) {
    throw new InvalidReferenceError(`${what} "${input}" has no tag; a tag is mandatory, e.g. "${formatRepository(ref)}:rock-solid-1.46"`);
  }
  if (ref.digest) throw new InvalidReferenceError(`${what} "${input}" must be a tag, not a digest`);
  return ref as ImageReference & { tag: string };
}

export function formatRepository(name: RepositoryName): string {
  return `${name.registry}/${name.repository}`;
}

export function formatReference(ref: ImageReference): string {
  return `${formatRepository(ref)}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The tag or digest used to address the manifest: the digest wins when both are present. */
export function manifestReference(ref: ImageReference): string {
  const value = ref.digest ?? ref.tag;
  if (!value) throw new InvalidReferenceError(`image reference "${formatReference(ref)}" has neither a tag nor a digest`);
  return value;
}

/** A Deckhouse image-list value in a repository: a digest is addressed with `@`, a werf tag with `:`. */
export function referenceInRepository(repo: RepositoryName, value: string): ImageReference {
  if (isDigest(value)) return { registry: repo.registry, repository: repo.repository, digest: value };
  if (isTag(value)) return { registry: repo.registry, repository: repo.repository, tag: value };
  throw new InvalidReferenceError(`"${value}" is neither a tag nor a digest`);
}

/** The repository holding the module images: the Deckhouse image's repository with a trailing `/dev` stripped. */
export function moduleRepository(deckhouseImage: ImageReference): RepositoryName {
  return {
    registry: deckhouseImage.registry,
    repository: deckhouseImage.repository.replace(/\/dev$/, ""),
  };
}
