// Deckhouse's module objects as deckhouse-controller writes them (cluster-scoped, deckhouse.io/v1alpha1): a
// ModuleRelease (spec.moduleName, spec.version, status.phase, labels `source` and `module`), a Module with the
// release channel its update policy gave it, and a ModuleConfig that enables or disables a module.
import type { KubeObject } from "./kube-api-server";

export function moduleRelease(module: string, version: string, opts: { source?: string; phase?: string } = {}): KubeObject {
  return {
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "ModuleRelease",
    metadata: { name: `${module}-${version}`, labels: { source: opts.source ?? "deckhouse", module, status: (opts.phase ?? "Deployed").toLowerCase() } },
    spec: { moduleName: module, version: version.replace(/^v/, ""), weight: 900 },
    status: { phase: opts.phase ?? "Deployed", message: "" },
  };
}

export function moduleObject(name: string, opts: { releaseChannel?: string; source?: string; enabled?: boolean } = {}): KubeObject {
  return {
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "Module",
    metadata: { name },
    properties: { source: opts.source ?? "deckhouse", ...(opts.releaseChannel ? { releaseChannel: opts.releaseChannel } : {}) },
    status: { phase: "Ready", conditions: [{ type: "EnabledByModuleManager", status: opts.enabled === false ? "False" : "True" }] },
  };
}

export function moduleConfig(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: "deckhouse.io/v1alpha1", kind: "ModuleConfig", metadata: { name }, spec: { version: 1, ...spec } };
}
