// The user the rules files of docs/permissions/ bind (`images-copier-operator`), added to a test server with exactly
// the grants of one stack's file: what a test uses to run a stack or its providers with those permissions only.
import { join } from "node:path";
import type { KubeApiServer } from "../kube-api-server";
import type { Grant } from "./rbac";
import { loadGrants } from "./rbac-manifests";

export const OPERATOR = "images-copier-operator";
export type StackPermissions = "copy-stack" | "switch-stack";

export function permissionsFile(stack: StackPermissions): string {
  return join(__dirname, "..", "..", "..", "docs", "permissions", `${stack}.yaml`);
}

export function operatorGrants(stack: StackPermissions): Grant[] {
  return loadGrants(permissionsFile(stack), OPERATOR);
}

/** A bearer token of `images-copier-operator` holding exactly the grants of `stack`'s rules file. */
export function addStackOperator(server: KubeApiServer, stack: StackPermissions): string {
  return server.addToken({ user: OPERATOR, grants: operatorGrants(stack) });
}
