// The cluster's `d8-system/deckhouse-registry` Secret as Deckhouse writes it: `.dockerconfigjson` with an `auth`
// entry (base64 of user:password) for the registry, `address`, `path`, `scheme` and, when given, the registry's `ca`.
import { deckhouseLabels } from "./deckhouse-labels";
import type { KubeObject } from "./kube-api-server";

export interface RegistryAccess {
  /** `host[:port]` */
  host: string;
  username: string;
  password: string;
  /** Repository path with a leading `/`; default `/deckhouse/ee`. */
  path?: string;
  ca?: string;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

export function deckhouseRegistryData(access: RegistryAccess): Record<string, string> {
  return {
    ".dockerconfigjson": b64(JSON.stringify({ auths: { [access.host]: { auth: b64(`${access.username}:${access.password}`) } } })),
    address: b64(access.host),
    path: b64(access.path ?? "/deckhouse/ee"),
    scheme: b64("https"),
    ...(access.ca ? { ca: b64(access.ca) } : {}),
  };
}

export function deckhouseRegistrySecret(access: RegistryAccess): KubeObject {
  return { apiVersion: "v1", kind: "Secret", metadata: { name: "deckhouse-registry", namespace: "d8-system", labels: deckhouseLabels() }, type: "kubernetes.io/dockerconfigjson", data: deckhouseRegistryData(access) };
}
