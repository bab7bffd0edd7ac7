// Status bodies as kube-apiserver writes them (apimachinery's StatusError shapes), for the test server's refusals.
import type { ServerResponse } from "node:http";

export interface KubeStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure";
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ message: string }> };
  code: number;
}

/** `secrets`, `deployments.apps`, `moduleconfigs.deckhouse.io`: how apimachinery prints a GroupResource. */
export function qualifiedResource(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

/** apierrors.NewForbidden: `<resource[.group]> "<name>" is forbidden: <why>` (no name: `<resource> is forbidden: ...`). */
export function forbidden(resource: string, group: string, name: string | undefined, why: string, causes?: Array<{ message: string }>): KubeStatus {
  const subject = name ? `${qualifiedResource(resource, group)} "${name}"` : qualifiedResource(resource, group);
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `${subject} is forbidden: ${why}`,
    reason: "Forbidden",
    details: { ...(name ? { name } : {}), ...(group ? { group } : {}), kind: resource, ...(causes ? { causes } : {}) },
    code: 403,
  };
}

export function sendStatus(res: ServerResponse, body: KubeStatus): void {
  res.writeHead(body.code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
