// The test server's authentication and authorization: bearer tokens and client certificates map to identities,
// impersonation is checked, and each request is authorized by RBAC for the identity it acts as. Members of
// `system:masters` pass every check, as on a real API server; a token added without rules is bound to
// cluster-admin, so only a test that gives rules (or none: `rules: []`) gets refusals.
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { effectiveIdentity, type EffectiveIdentity, type Identity } from "./identity";
import { allows, CLUSTER_ADMIN, forbiddenReason, type Grant, type PolicyRule, type RequestAttributes } from "./rbac";
import { forbidden, type KubeStatus } from "./status";

export interface TokenSpec {
  user: string;
  /** `system:authenticated` is added, as the authenticator does. */
  groups?: string[];
  /** What this user may do (RBAC). Omitted: cluster-admin. Grants belong to the user: a second token for the same
   *  user replaces them. */
  grants?: Grant[];
}

export interface Route {
  apiVersion: string;
  kind: string;
  namespace: string;
  name?: string;
  sub?: string;
}

/** The default token's identity: kubeadm's admin.conf user. */
export const ADMIN: Identity = { user: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] };

export function requestAttributes(method: string, route: Route, resource: string, query: Record<string, string>): RequestAttributes {
  const [group, version] = route.apiVersion.includes("/") ? route.apiVersion.split("/") : ["", route.apiVersion];
  const watch = query.watch === "1" || query.watch === "true";
  const verb = route.name
    ? ({ GET: "get", PUT: "update", PATCH: "patch", DELETE: "delete", POST: "create" } as Record<string, string>)[method] ?? method.toLowerCase()
    : ({ GET: watch ? "watch" : "list", POST: "create", DELETE: "deletecollection" } as Record<string, string>)[method] ?? method.toLowerCase();
  // A list or watch narrowed by `fieldSelector=metadata.name=<n>` is authorized for that name, as kube-apiserver does.
  const selected = !route.name && (verb === "list" || verb === "watch") ? query.fieldSelector?.match(/^metadata\.name==?([^,]+)$/)?.[1] : undefined;
  const name = route.name ?? selected;
  return { verb, apiGroup: group, apiVersion: version, resource, ...(route.sub ? { subresource: route.sub } : {}), namespace: route.namespace, ...(name ? { name } : {}) };
}

export class Access {
  private readonly tokens = new Map<string, Identity>();
  /** By user name; `system:sudouser` is bound to cluster-admin as Deckhouse binds it (`sudouser-alias.yaml`). */
  private readonly grants = new Map<string, Grant[]>([["system:sudouser", CLUSTER_ADMIN]]);

  constructor(adminToken: string) {
    this.tokens.set(adminToken, ADMIN);
  }

  /** A rotated token: the old one no longer authenticates, the new one is the same identity. */
  replaceToken(old: string, token: string): void {
    const identity = this.tokens.get(old);
    this.tokens.delete(old);
    if (identity) this.tokens.set(token, identity);
  }

  addToken(token: string, spec: TokenSpec): Identity {
    const identity = { user: spec.user, groups: [...new Set([...(spec.groups ?? []), "system:authenticated"])] };
    this.tokens.set(token, identity);
    this.grants.set(spec.user, spec.grants ?? CLUSTER_ADMIN);
    return identity;
  }

  /** Replaces what `user` may do (e.g. `system:sudouser`, or a token's user). */
  setGrants(user: string, grants: Grant[]): void {
    this.grants.set(user, grants);
  }

  may(identity: Identity, attributes: RequestAttributes): boolean {
    if (identity.groups.includes("system:masters")) return true;
    return allows(this.grants.get(identity.user) ?? [], attributes);
  }

  authenticate(req: IncomingMessage): Identity | undefined {
    const header = req.headers.authorization;
    if (header?.startsWith("Bearer ")) return this.tokens.get(header.slice("Bearer ".length));
    const socket = req.socket as TLSSocket;
    if (socket.authorized !== true) return undefined;
    const subject = socket.getPeerCertificate()?.subject;
    const cn = subject?.CN === undefined ? undefined : [subject.CN].flat()[0];
    if (!cn) return undefined;
    const orgs = subject.O === undefined ? [] : [subject.O].flat();
    return { user: cn, groups: [...orgs, "system:authenticated"] };
  }

  /** The identity the request acts as, or the Status to answer. */
  identify(authenticated: Identity, req: IncomingMessage): EffectiveIdentity | KubeStatus {
    return effectiveIdentity(authenticated, req.headers, (identity, attributes) => this.may(identity, attributes));
  }

  authorize(identity: Identity, attributes: RequestAttributes): KubeStatus | undefined {
    if (this.may(identity, attributes)) return undefined;
    return forbidden(attributes.resource, attributes.apiGroup, attributes.name, forbiddenReason(identity.user, attributes));
  }
}

export function isStatus(value: EffectiveIdentity | KubeStatus): value is KubeStatus {
  return (value as KubeStatus).kind === "Status";
}

export type { Grant, PolicyRule };
