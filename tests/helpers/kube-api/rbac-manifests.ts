// RBAC grants of one user from Role / ClusterRole / RoleBinding / ClusterRoleBinding manifests (a multi-document
// YAML file an operator can `kubectl apply`): what the test server then enforces for that user's token.
import { readFileSync } from "node:fs";
import { loadAll } from "js-yaml";
import { z } from "zod";
import type { Grant } from "./rbac";

const rule = z.object({
  apiGroups: z.array(z.string()).optional(),
  resources: z.array(z.string()).optional(),
  verbs: z.array(z.string()).min(1),
  resourceNames: z.array(z.string()).optional(),
  nonResourceURLs: z.array(z.string()).optional(),
});
const meta = z.object({ name: z.string(), namespace: z.string().optional() });
const role = z.object({ kind: z.enum(["Role", "ClusterRole"]), metadata: meta, rules: z.array(rule).default([]) });
const binding = z.object({
  kind: z.enum(["RoleBinding", "ClusterRoleBinding"]),
  metadata: meta,
  roleRef: z.object({ kind: z.enum(["Role", "ClusterRole"]), name: z.string() }),
  subjects: z.array(z.object({ kind: z.string(), name: z.string() })).default([]),
});
const manifest = z.discriminatedUnion("kind", [role, binding]);

/** The grants `user` has through the bindings in `yamlText` (roles referenced but not defined there grant nothing). */
export function grantsFromManifests(yamlText: string, user: string): Grant[] {
  const docs = loadAll(yamlText).filter((d) => d !== null && d !== undefined).map((d, i) => {
    const parsed = manifest.safeParse(d);
    if (!parsed.success) throw new Error(`RBAC manifest #${i + 1}: ${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message}`);
    return parsed.data;
  });
  const roles = docs.filter((d): d is z.infer<typeof role> => d.kind === "Role" || d.kind === "ClusterRole");
  const rulesOf = (kind: string, name: string, namespace?: string) =>
    roles.find((r) => r.kind === kind && r.metadata.name === name && (kind === "ClusterRole" || r.metadata.namespace === namespace))?.rules ?? [];
  const grants: Grant[] = [];
  for (const b of docs) {
    if (b.kind !== "RoleBinding" && b.kind !== "ClusterRoleBinding") continue;
    if (!b.subjects.some((s) => s.kind === "User" && s.name === user)) continue;
    const rules = rulesOf(b.roleRef.kind, b.roleRef.name, b.metadata.namespace);
    grants.push(b.kind === "ClusterRoleBinding" ? { rules } : { namespace: b.metadata.namespace ?? "default", rules });
  }
  return grants;
}

export function loadGrants(file: string, user: string): Grant[] {
  return grantsFromManifests(readFileSync(file, "utf8"), user);
}
