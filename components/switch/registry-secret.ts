// The new contents of `d8-system/deckhouse-registry`, in the shape Deckhouse reads (see deckhouse-facts.md).
import { parseTaggedReference } from "../../copier";
import { decodeBase64, dockerConfigJson } from "../kube";

export const REGISTRY_SECRET_KEYS = [".dockerconfigjson", "address", "path", "scheme", "ca", "imagesRegistry"] as const;
export type RegistrySecretKey = (typeof REGISTRY_SECRET_KEYS)[number];


export interface TargetRegistry {
  /** The target Deckhouse image, `host[:port]/path:tag`. */
  image: string;
  username: string;
  password: string;
  insecure: boolean;
  /** PEM of the target registry's CA. */
  ca?: string;
}

/**
 * The plain-text values the switch writes. `ca` is written when given, and emptied when the Secret has one but
 * no CA is given (it belongs to the old registry; a Patch cannot delete a key it does not own, and Deckhouse
 * treats an empty `ca` as none). `imagesRegistry` is written only where the Secret already has it.
 */
export function registrySecretValues(target: TargetRegistry, currentKeys: Iterable<string>): Partial<Record<RegistrySecretKey, string>> {
  const ref = parseTaggedReference(target.image, "targetImage");
  const has = new Set(currentKeys);
  const values: Partial<Record<RegistrySecretKey, string>> = {
    ".dockerconfigjson": dockerConfigJson(ref.registry, target.username, target.password),
    address: ref.registry,
    path: `/${ref.repository}`,
    scheme: target.insecure ? "http" : "https",
  };
  const ca = target.ca?.trim();
  if (ca) values.ca = ca;
  else if (has.has("ca")) values.ca = "";
  if (has.has("imagesRegistry")) values.imagesRegistry = `${ref.registry}/${ref.repository}`;
  return values;
}

/** Whether the Secret's (base64) `address` and `path` already name the target image's repository. */
export function secretPointsAt(data: Record<string, string | undefined>, targetImage: string): boolean {
  const ref = parseTaggedReference(targetImage, "targetImage");
  const value = (key: string) => (typeof data[key] === "string" ? decodeBase64(data[key] as string).trim() : "");
  return value("address") === ref.registry && value("path").replace(/^\/+|\/+$/g, "") === ref.repository;
}
