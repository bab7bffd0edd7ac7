// Where the vendor's registry is when the registry module owns it (a configurable mode of ModuleConfig `deckhouse`
// `spec.settings.registry`: Unmanaged with imagesRepo, Direct, Proxy). Then neither `deckhouse-registry` nor the
// Deployment's image says it (Direct and Proxy name the in-cluster `registry.d8-system.svc:5001/system/deckhouse`):
// the mode's section does: `imagesRepo`, `scheme` (HTTP|HTTPS), `ca`, and `license` (the password of user
// `license-token`) or `username`+`password` (deckhouse/deckhouse modules/002-deckhouse/openapi/config-values.yaml).
import { formatReference, formatRepository, moduleRepository, parseImageReference, parseRepositoryName } from "../../copier";
import type { ConfigurableMode, RegistryPath, RegistrySection } from "../registry-mode";
import { ClusterStateError, type RepoConfigJson } from "./registry-credentials";

/** The registry path the copy saw, as the copy record keeps it. */
export type CopyRegistryPath = "legacy" | ConfigurableMode;

/** User name Deckhouse's registry takes with a license key as the password. */
export const LICENSE_USER = "license-token";

/**
 * The source image: `<imagesRepo>` with the tag (or digest) of the Deployment's image. An image already in
 * `imagesRepo` (configurable Unmanaged; a `/dev` build) is taken as it is.
 */
export function upstreamSourceImage(deploymentImage: string, imagesRepo: string): string {
  let repo;
  try {
    repo = parseRepositoryName(imagesRepo.trim().replace(/\/+$/, ""));
  } catch (err) {
    throw new ClusterStateError(`ModuleConfig deckhouse: registry imagesRepo "${imagesRepo}" is not a repository (${(err as Error).message})`);
  }
  const running = parseImageReference(deploymentImage);
  if (formatRepository(moduleRepository(running)) === formatRepository(repo)) return deploymentImage;
  if (!running.tag && !running.digest) throw new ClusterStateError(`d8-system/deckhouse: the image "${deploymentImage}" has neither a tag nor a digest`);
  return formatReference({ ...repo, ...(running.digest ? { digest: running.digest } : { tag: running.tag }) });
}

/** d8-repo.json from the mode's section: the upstream repository, its scheme, CA and credentials. */
export function moduleSourceRepoConfig(section: RegistrySection & { imagesRepo: string }, deploymentImage: string): RepoConfigJson {
  const credentials = section.license ? { username: LICENSE_USER, password: section.license } : section.username !== undefined ? { username: section.username, password: section.password ?? "" } : {};
  return {
    ...credentials,
    insecure: section.scheme === "HTTP",
    image: upstreamSourceImage(deploymentImage, section.imagesRepo),
    ...(section.ca ? { ca: section.ca } : {}),
  };
}

/** A one-line refusal of a registry the copy stack cannot read the vendor's release from, else undefined. */
export function moduleRefusal(path: RegistryPath): string | undefined {
  if (path.path !== "refused") return undefined;
  const prefix = "images-copier: refusing to copy:";
  switch (path.cause) {
    case "managed":
      return `${prefix} ModuleConfig registry is in mode Managed (the registry module's newer implementation), where images-copier cannot tell the vendor's registry yet; copy with Deckhouse's own tools (d8 mirror)`;
    case "local":
      return `${prefix} ModuleConfig deckhouse sets registry mode Local: the cluster pulls from its own local registry, filled by d8 mirror push, and has no upstream to copy from; fill the target with d8 mirror instead`;
    default:
      // the classifier's words name the ModuleConfig's problem and its fix; only the stack's verb differs
      return path.reason.replace(/^images-copier: refusing to switch registries:/, prefix);
  }
}
