// The proxy settings of the running Deckhouse, for the copier Job. Deckhouse's modules get HTTP_PROXY,
// HTTPS_PROXY and NO_PROXY from the cluster's proxy settings (helm_lib_envs_for_proxy); where the deckhouse
// container has them, it reaches registries through that proxy, and so must the copier.
import type { V1EnvVar } from "@kubernetes/client-node";
import { deckhouseContainerOf } from "./registry-credentials";

const PROXY_NAMES = new Set(["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]);

/** Whether an environment variable is one of the proxy settings (either case). */
export function isProxyVariable(name: string): boolean {
  return PROXY_NAMES.has(name.toUpperCase());
}

/** The deckhouse container's proxy variables, as they are: a literal value or a reference. */
export function deckhouseProxyEnv(spec: { template?: { spec?: { containers?: Array<{ name?: string; env?: V1EnvVar[] }> } } } | undefined): V1EnvVar[] {
  return (deckhouseContainerOf(spec)?.env ?? []).filter((e) => isProxyVariable(e.name)).map((e) => ({ ...e }));
}
