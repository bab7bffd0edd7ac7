// RBAC in the Kubernetes API test server, through real HTTPS requests: the rules files of docs/permissions/ read as
// kubectl would apply them, and kube-apiserver's 403 for everything they do not allow (verbs, names, subresources,
// namespaced against cluster scope, impersonation).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "undici";
import { deckhouseRegistrySecret } from "../helpers/deckhouse-registry-secret";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { grantsFromManifests, loadGrants } from "../helpers/kube-api/rbac-manifests";

const PERMISSIONS = join(__dirname, "..", "..", "docs", "permissions");
const OPERATOR = "images-copier-operator";
let s: KubeApiServer;
let agent: Agent;
let copy: string;
let sw: string;

beforeAll(async () => {
  s = await startKubeApiServer({ deckhouse: { version: "v1.66" } });
  agent = new Agent({ connect: { ca: s.caPem } });
  copy = s.addToken({ user: OPERATOR, grants: loadGrants(join(PERMISSIONS, "copy-stack.yaml"), OPERATOR) });
  s.put(deckhouseRegistrySecret({ host: "registry.deckhouse.io", username: "license-token", password: "k" }));
});
afterAll(async () => {
  await s?.stop();
  await agent?.close();
});

async function call(token: string, method: string, path: string, options: { as?: string; body?: unknown } = {}): Promise<{ code: number; message?: string; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (options.as) headers["impersonate-user"] = options.as;
  if (options.body !== undefined) headers["content-type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
  const res = await request(`${s.url}${path}`, { method: method as "GET", headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), dispatcher: agent });
  const text = await res.body.text();
  const body = text ? JSON.parse(text) : undefined;
  return { code: res.statusCode, message: body?.kind === "Status" ? body.message : undefined, body };
}

const NS = "/api/v1/namespaces/d8-system";

test("the copy stack's rules: what they allow passes, the rest gets kube-apiserver's 403 body", async () => {
  expect((await call(copy, "GET", `${NS}/secrets/deckhouse-registry`)).code).toBe(200);
  const patch = await call(copy, "PATCH", `${NS}/secrets/deckhouse-registry`, { body: { data: {} } });
  expect(patch).toEqual({
    code: 403,
    message: 'secrets "deckhouse-registry" is forbidden: User "images-copier-operator" cannot patch resource "secrets" in API group "" in the namespace "d8-system"',
    body: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'secrets "deckhouse-registry" is forbidden: User "images-copier-operator" cannot patch resource "secrets" in API group "" in the namespace "d8-system"',
      reason: "Forbidden",
      details: { name: "deckhouse-registry", kind: "secrets" },
      code: 403,
    },
  });
  // resourceNames: another Secret may not be read; a list cannot be narrowed to names unless by metadata.name
  expect((await call(copy, "GET", `${NS}/secrets/other`)).message).toBe('secrets "other" is forbidden: User "images-copier-operator" cannot get resource "secrets" in API group "" in the namespace "d8-system"');
  expect((await call(copy, "GET", `${NS}/secrets`)).message).toBe('secrets is forbidden: User "images-copier-operator" cannot list resource "secrets" in API group "" in the namespace "d8-system"');
  // list and watch are verbs of their own; a watch narrowed by fieldSelector to an allowed name passes
  expect((await call(copy, "GET", "/apis/batch/v1/namespaces/d8-system/jobs?fieldSelector=metadata.name%3Dcopy-images")).code).toBe(200);
  expect((await call(copy, "GET", "/apis/batch/v1/namespaces/d8-system/jobs?watch=true&fieldSelector=metadata.name%3Dother&timeoutSeconds=1")).message).toBe(
    'jobs.batch "other" is forbidden: User "images-copier-operator" cannot watch resource "jobs" in API group "batch" in the namespace "d8-system"',
  );
  expect((await call(copy, "GET", `${NS}/pods`)).code).toBe(200);
  expect((await call(copy, "GET", `${NS}/pods?watch=true`)).message).toBe('pods is forbidden: User "images-copier-operator" cannot watch resource "pods" in API group "" in the namespace "d8-system"');
  // subresources: pods/log is allowed, pods get is not
  s.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "copy-images-abcde", namespace: "d8-system" } });
  expect((await call(copy, "GET", `${NS}/pods/copy-images-abcde/log`)).code).toBe(200);
  expect((await call(copy, "GET", `${NS}/pods/copy-images-abcde`)).message).toBe('pods "copy-images-abcde" is forbidden: User "images-copier-operator" cannot get resource "pods" in API group "" in the namespace "d8-system"');
  // namespaced rules do not reach another namespace or the cluster scope
  expect((await call(copy, "GET", "/api/v1/namespaces/default/pods")).message).toBe('pods is forbidden: User "images-copier-operator" cannot list resource "pods" in API group "" in the namespace "default"');
  expect((await call(copy, "GET", "/api/v1/pods")).message).toBe('pods is forbidden: User "images-copier-operator" cannot list resource "pods" in API group "" at the cluster scope');
  expect((await call(copy, "GET", "/apis/deckhouse.io/v1alpha1/deckhousereleases")).code).toBe(200);
  // the copy reads ModuleConfig deckhouse (the release channel to copy) but writes no ModuleConfig and reads only the named ones
  expect((await call(copy, "PATCH", "/apis/deckhouse.io/v1alpha1/moduleconfigs/deckhouse", { body: {} })).message).toBe('moduleconfigs.deckhouse.io "deckhouse" is forbidden: User "images-copier-operator" cannot patch resource "moduleconfigs" in API group "deckhouse.io" at the cluster scope');
  expect((await call(copy, "GET", "/apis/deckhouse.io/v1alpha1/moduleconfigs/registry")).code).toBe(404); // read: where the registry is kept
  expect((await call(copy, "GET", "/apis/deckhouse.io/v1alpha1/moduleconfigs/cni-cilium")).message).toBe('moduleconfigs.deckhouse.io "cni-cilium" is forbidden: User "images-copier-operator" cannot get resource "moduleconfigs" in API group "deckhouse.io" at the cluster scope');
  // create cannot be restricted by name: the rules allow creating Secrets, and deleting only the run's own
  expect((await call(copy, "POST", `${NS}/secrets`, { body: { apiVersion: "v1", kind: "Secret", metadata: { name: "images-copier-config" } } })).code).toBe(201);
  expect((await call(copy, "DELETE", `${NS}/secrets/images-copier-config`)).code).toBe(200);
  // the copy stack may not impersonate
  expect((await call(copy, "GET", `${NS}/secrets/deckhouse-registry`, { as: "system:sudouser" })).message).toBe(
    'users "system:sudouser" is forbidden: User "images-copier-operator" cannot impersonate resource "users" in API group "" at the cluster scope',
  );
});

test("the switch stack's rules: impersonating system:sudouser (and nobody else) gets its write past Deckhouse's admission", async () => {
  sw = s.addToken({ user: "switch-operator", grants: grantsFromManifests(readFileSync(join(PERMISSIONS, "switch-stack.yaml"), "utf8").replaceAll(OPERATOR, "switch-operator"), "switch-operator") });
  const path = `${NS}/secrets/deckhouse-registry`;
  // RBAC allows the user's own patch; Deckhouse v1.66's admission refuses it
  expect((await call(sw, "PATCH", path, { body: { data: { path: "L3g=" } } })).message).toMatch(/^secrets "deckhouse-registry" is forbidden: ValidatingAdmissionPolicy 'label-objects\.deckhouse\.io'/);
  expect((await call(sw, "PATCH", path, { as: "system:sudouser", body: { data: { path: "L3g=" } } })).code).toBe(200);
  expect((await call(sw, "GET", path, { as: "kubernetes-admin" })).message).toBe('users "kubernetes-admin" is forbidden: User "switch-operator" cannot impersonate resource "users" in API group "" at the cluster scope');
  expect((await call(sw, "GET", "/api/v1/pods")).code).toBe(200);
  expect((await call(sw, "PATCH", "/apis/deckhouse.io/v1alpha1/moduleconfigs/global", { body: {} })).message).toBe(
    'moduleconfigs.deckhouse.io "global" is forbidden: User "switch-operator" cannot patch resource "moduleconfigs" in API group "deckhouse.io" at the cluster scope',
  );
  const writes = s.requests.filter((r) => r.method === "PATCH" && r.path === path && r.user === "system:sudouser");
  expect(writes.map((r) => r.impersonatedBy)).toEqual(["switch-operator"]);
});

test("a malformed rules file is refused in one line naming the document and field", () => {
  expect(() => grantsFromManifests("kind: Role\nmetadata: {name: x}\nrules: [{resources: [a]}]\n", "u")).toThrow("RBAC manifest #1: rules.0.verbs: Invalid input: expected array, received undefined");
});
