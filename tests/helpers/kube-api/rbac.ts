// RBAC as kube-apiserver's authorizer evaluates it: a request's attributes (verb, API group, resource[/subresource],
// namespace, name) against PolicyRules granted cluster-wide (ClusterRole + ClusterRoleBinding) or in one namespace
// (Role, or ClusterRole through a RoleBinding). Only allow rules exist: what no rule allows is denied.
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Rules granted to a subject, everywhere (`namespace` absent) or in one namespace. */
export interface Grant {
  namespace?: string;
  rules: PolicyRule[];
}

export interface RequestAttributes {
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource?: string;
  /** "" at the cluster scope (cluster-scoped kinds, lists across all namespaces, impersonation of users/groups). */
  namespace: string;
  /** Absent for create, list, watch and deletecollection. */
  name?: string;
}

/** What the `cluster-admin` ClusterRole grants (and Deckhouse binds `system:sudouser` to). */
export const CLUSTER_ADMIN: Grant[] = [{ rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }, { nonResourceURLs: ["*"], verbs: ["*"] }] }];

const has = (list: string[] | undefined, value: string) => (list ?? []).some((item) => item === "*" || item === value);

function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb) || !has(rule.apiGroups, a.apiGroup)) return false;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resources = rule.resources ?? [];
  const resourceOk = resources.some((r) => r === "*" || r === resource || (a.subresource !== undefined && r === `${a.resource}/*`) || (a.subresource !== undefined && r === `*/${a.subresource}`));
  if (!resourceOk) return false;
  if (!rule.resourceNames || rule.resourceNames.length === 0) return true;
  return a.name !== undefined && rule.resourceNames.includes(a.name);
}

export function allows(grants: Grant[], a: RequestAttributes): boolean {
  return grants.some((grant) => (grant.namespace === undefined || grant.namespace === a.namespace) && grant.rules.some((rule) => ruleAllows(rule, a)));
}

/** The reason kube-apiserver gives (`responsewriters.forbiddenMessage`). */
export function forbiddenReason(user: string, a: RequestAttributes): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  return `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${where}`;
}
