// The proxy settings of the running Deckhouse, for the copier Jobs. Deckhouse's modules get HTTP_PROXY,
// HTTPS_PROXY and NO_PROXY from the cluster's proxy settings (helm_lib_envs_for_proxy); where the deckhouse
// container has them, it reaches registries through that proxy, and so must the copier.
import type { V1EnvVar } from "@kubernetes/client-node";

const PROXY_NAMES = new Set(["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]);

/** Whether an environment variable is one of the proxy settings (either case). */
export function isProxyVariable(name: string): boolean {
  return PROXY_NAMES.has(name.toUpperCase());
}

/** The key of the run's Secret that carries a proxy variable's literal value. */
export function proxySecretKey(name: string): string {
  return `proxy.${name}`;
}

/**
 * The proxy variables split for the Job: a literal value (it may hold a proxy password) moves into the run's Secret
 * and the Job refers to it with `secretKeyRef`, so the Job's spec, which Pulumi shows and stores in plain, holds
 * none; a reference (`valueFrom`) stays as it is.
 */
export function splitProxyEnv(env: V1EnvVar[], secretName: string): { jobEnv: V1EnvVar[]; secretValues: Record<string, string> } {
  const jobEnv: V1EnvVar[] = [];
  const secretValues: Record<string, string> = {};
  for (const variable of env) {
    if (variable.valueFrom) {
      jobEnv.push({ name: variable.name, valueFrom: variable.valueFrom });
      continue;
    }
    const key = proxySecretKey(variable.name);
    secretValues[key] = variable.value ?? "";
    jobEnv.push({ name: variable.name, valueFrom: { secretKeyRef: { name: secretName, key } } });
  }
  return { jobEnv, secretValues };
}
