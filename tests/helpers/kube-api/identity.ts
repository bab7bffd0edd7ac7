// Who a request is: the authenticated identity (bearer token or client certificate) and, when the request carries
// `Impersonate-User` / `Impersonate-Group`, the impersonated one, which kube-apiserver accepts only when the
// authenticated identity may `impersonate` that user (resource `users`, or `serviceaccounts` in its namespace) and
// each group (`groups`), all at the cluster scope.
import type { IncomingHttpHeaders } from "node:http";
import { forbidden, type KubeStatus } from "./status";
import { forbiddenReason, type RequestAttributes } from "./rbac";

export interface Identity {
  user: string;
  groups: string[];
}

export interface EffectiveIdentity extends Identity {
  /** The authenticated user when the request impersonated `user`. */
  impersonatedBy?: string;
}

function headerValues(headers: IncomingHttpHeaders, name: string): string[] {
  const value = headers[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : value.split(",")).map((v) => v.trim()).filter(Boolean);
}

function impersonationAttributes(kind: "users" | "groups" | "serviceaccounts", name: string, namespace = ""): RequestAttributes {
  return { verb: "impersonate", apiGroup: "", apiVersion: "v1", resource: kind, namespace, name };
}

/** The identity a request acts as, or the 403 Status kube-apiserver answers when an impersonation is not allowed. */
export function effectiveIdentity(
  authenticated: Identity,
  headers: IncomingHttpHeaders,
  may: (identity: Identity, attributes: RequestAttributes) => boolean,
): EffectiveIdentity | KubeStatus {
  const user = headerValues(headers, "impersonate-user")[0];
  const groups = headerValues(headers, "impersonate-group");
  if (!user) {
    if (groups.length > 0) {
      return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `requested [${groups.map((g) => `{Group  ${g}}`).join(" ")}] without impersonating a user`, reason: "InternalError", code: 500 };
    }
    return authenticated;
  }
  const sa = user.match(/^system:serviceaccount:([^:]+):([^:]+)$/);
  const checks = [sa ? impersonationAttributes("serviceaccounts", sa[2], sa[1]) : impersonationAttributes("users", user), ...groups.map((g) => impersonationAttributes("groups", g))];
  for (const attributes of checks) {
    if (!may(authenticated, attributes)) return forbidden(attributes.resource, "", attributes.name, forbiddenReason(authenticated.user, attributes));
  }
  const implied = sa ? ["system:serviceaccounts", `system:serviceaccounts:${sa[1]}`] : [];
  const all = [...new Set([...groups, ...implied, ...(user === "system:anonymous" ? [] : ["system:authenticated"])])];
  return { user, groups: all, impersonatedBy: authenticated.user };
}
