// A Kubernetes API test server on 127.0.0.1: TLS (test CA), bearer-token or client-certificate auth, and an
// in-memory object store served through the real REST paths (GET, LIST with labelSelector, WATCH, POST, PATCH
// including Server-Side Apply, PUT, DELETE with propagationPolicy and Terminating objects, pod logs), with
// `resourceVersion` preconditions and `metadata.generation` bumped by writes that change `spec`. It is NOT a
// Kubernetes control plane: no controllers run, so a test plays them (onCreate hooks, put(), setPodLog(),
// deployment-controller.ts); the test's own put() is the world changing, not an API write.
//
// Identity, admission, dry run (opt-in per server; new logic in ./kube-api/):
// - Every request acts as an identity: the default `token` is `kubernetes-admin` in `system:masters` (passes every
//   check, as on kubeadm's admin.conf); a client certificate is CN = user, O = groups. `addToken({ user, groups,
//   grants })` adds another bearer token; without `grants` it is bound to cluster-admin, with `grants` (RBAC rules,
//   cluster-wide or per namespace; `loadGrants` reads them from Role/ClusterRole manifests) it gets kube-apiserver's
//   403 for anything they do not allow. `kubeconfigFor(token, { as })` writes a kubeconfig for it.
// - `Impersonate-User` / `Impersonate-Group` are honoured only when the authenticated identity may `impersonate`
//   `users` (or `serviceaccounts`) / `groups` of that name, else the 403 kube-apiserver sends. `system:sudouser` is
//   bound to cluster-admin, as Deckhouse binds it; `setGrants(user, grants)` changes what any user may do. To deny
//   impersonation, add a token whose grants lack `impersonate`.
// - `startKubeApiServer({ deckhouse: { version: "v1.66" } })` enforces Deckhouse's admission policies on
//   `heritage: deckhouse` objects as that release renders them (none before v1.62 or on `dev`); see
//   kube-api/deckhouse-admission.ts. Seed Deckhouse's objects with their labels (`deckhouseLabels`).
// - `?dryRun=All` on POST/PUT/PATCH/DELETE runs authorization and admission and answers what would be stored;
//   nothing is stored, no watch event is sent, no hook runs.
// - `requests` records each request's effective identity (`user`, `groups`, `impersonatedBy`), `attributes` (verb,
//   resource, namespace, name) and `dryRun`, so a test can assert who made a write.
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { testCerts } from "./certs";
import type { TLSSocket } from "node:tls";
import { Access, isStatus, requestAttributes, type TokenSpec } from "./kube-api/access";
import { deckhouseAdmission, type Operation } from "./kube-api/deckhouse-admission";
import type { Grant, RequestAttributes } from "./kube-api/rbac";
import { deletionController, type Propagation } from "./kube-api/deletion";
import { serverSideApply } from "./kube-api/server-side-apply";
import { sendStatus } from "./kube-api/status";

const run = promisify(execFile);

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string; uid?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/**
 * The Pod the Job controller would create for `job` (a random name suffix, its labels and owner reference), Running.
 * No controller runs in the test server: tests that play the Job controller put this when a Job is created.
 */
export function podOfJob(job: KubeObject): KubeObject {
  const uid = job.metadata.uid as string;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${job.metadata.name}-${Math.random().toString(36).slice(2, 7)}`,
      namespace: job.metadata.namespace,
      labels: { "job-name": job.metadata.name, "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid },
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: job.metadata.name, uid, controller: true }],
    },
    spec: (job.spec as { template: { spec: unknown } }).template.spec,
    status: { phase: "Running" },
  };
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  /** The identity the request acted as (after impersonation); absent when it was not authenticated. */
  user?: string;
  groups?: string[];
  /** The authenticated user, when the request impersonated `user`. */
  impersonatedBy?: string;
  attributes?: RequestAttributes;
  dryRun?: boolean;
  /** How the caller authenticated (before any impersonation), and the user it asked to act as. */
  auth?: "token" | "client-certificate";
  impersonateUser?: string;
  fieldManager?: string;
  /** The response's status code, once it was sent. */
  code?: number;
}

export interface KubeApiServerOptions {
  /** Deckhouse's admission policies on `heritage: deckhouse` objects as this release renders them (`v1.66`). */
  deckhouse?: { version: string };
  /** How long a deleted Pod keeps running (its graceful shutdown) before it goes; 0 (default): at once. */
  podTerminationMs?: number;
}

export interface KubeApiServer {
  url: string;
  caPem: string;
  token: string;
  /** A kubeconfig (YAML) for this server with the bearer token, context `test`. */
  kubeconfigYaml: string;
  /** A kubeconfig using a client certificate signed by the test CA instead of a token. */
  clientCertKubeconfigYaml(): Promise<string>;
  requests: RecordedRequest[];
  /** A new bearer token; the old one is refused from now on (401). Returns the kubeconfig with the new token
   *  (`token` and `kubeconfigYaml` change with it). */
  /** Replaces a bearer token (the admin token by default) with a new one for the same identity; the old one no
   *  longer authenticates. Returns a kubeconfig with the new token. */
  rotateToken(old?: string): string;
  put(object: KubeObject): KubeObject;
  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined;
  list(apiVersion: string, kind: string, namespace: string): KubeObject[];
  remove(apiVersion: string, kind: string, namespace: string, name: string): void;
  /** Replaces a pod's log; every line is stamped with the current time (served with `timestamps=true`). */
  setPodLog(namespace: string, pod: string, text: string): void;
  appendPodLog(namespace: string, pod: string, text: string): void;
  /** Called for every request before it is handled (e.g. a concurrent writer racing it); returns an unsubscribe. */
  onRequest(handler: (request: RecordedRequest) => void): () => void;
  /** Called after a POST stored an object (the test's stand-in for controllers). */
  onCreate(kind: string, handler: (object: KubeObject) => void): void;
  /** Called when an object first appears in the store, however it got there (a POST or put(), e.g. the Pulumi
   *  engine stand-in's Kubernetes provider). */
  onAdded(kind: string, handler: (object: KubeObject) => void): void;
  /** Called after an existing object changed, however it changed (PATCH, PUT or put()), with its previous version:
   *  the test's stand-in for a controller that watches the object (e.g. tests/helpers/registry-orchestrator.ts). */
  onUpdate(kind: string, handler: (object: KubeObject, previous: KubeObject) => void): () => void;
  /** The next `count` watch connections are cut (socket destroyed) right after their initial events; the returned
   *  promise resolves once the last of them is cut. */
  dropNextWatches(count: number): Promise<void>;
  /** Answers matching requests with this error Status (e.g. an admission 403) until the returned function is called. */
  rejectRequests(match: { method: string; kind: string }, code: number, reason: string, message: string): () => void;
  /** A new bearer token for `spec.user` (cluster-admin unless `spec.grants` are given). */
  addToken(spec: TokenSpec): string;
  /** Replaces what `user` may do (RBAC grants), e.g. for `system:sudouser` or a token's user. */
  setGrants(user: string, grants: Grant[]): void;
  /** A kubeconfig with `token` (default: the admin token) and, with `as`, the user it impersonates. */
  kubeconfigFor(token?: string, options?: { as?: string; asGroups?: string[] }): string;
  stop(): Promise<void>;
}

const RESOURCES: Record<string, string> = {
  pods: "Pod",
  // cluster-scoped, listed with namespace "": Deckhouse's release objects (the copy stage's release check)
  deckhousereleases: "DeckhouseRelease",
  secrets: "Secret",
  configmaps: "ConfigMap",
  services: "Service",
  events: "Event",
  jobs: "Job",
  deployments: "Deployment",
  replicasets: "ReplicaSet",
  statefulsets: "StatefulSet",
  daemonsets: "DaemonSet",
  moduleconfigs: "ModuleConfig",
  // Deckhouse's modules (cluster-scoped): the copy stage lists the Deployed releases and each module's channel;
  // Module `registry` says whether the registry module is enabled (components/registry-mode.ts)
  modulereleases: "ModuleRelease",
  modulesources: "ModuleSource",
  modules: "Module",
  // cluster-scoped: Deckhouse's NodeGroups (deckhouse.io/v1) and the nodes, for the switch's wait for bashible
  nodegroups: "NodeGroup",
  nodes: "Node",
};
/** Kinds without a namespace (`/apis/<group>/<version>/<resource>/<name>`), stored under namespace "". */
const CLUSTER_SCOPED = new Set(["ModuleConfig", "ModuleRelease", "ModuleSource", "Module", "NodeGroup", "Node"]);

interface Watcher {
  apiVersion: string;
  kind: string;
  namespace: string;
  matches: (object: KubeObject) => boolean;
  send: (type: string, object: KubeObject) => void;
}

interface Route {
  apiVersion: string;
  kind: string;
  namespace: string;
  name?: string;
  sub?: string;
}

function parseRoute(pathname: string): Route | undefined {
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  let apiVersion: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 2) {
    apiVersion = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 3) {
    apiVersion = `${parts[1]}/${parts[2]}`;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  // A list across all namespaces (`/api/v1/pods`): namespace "" (added for the switch stage's pod listing).
  if (rest.length === 1 && RESOURCES[rest[0]]) return { apiVersion, kind: RESOURCES[rest[0]], namespace: "" };
  if (rest.length === 2 && CLUSTER_SCOPED.has(RESOURCES[rest[0]])) return { apiVersion, kind: RESOURCES[rest[0]], namespace: "", name: rest[1] };
  if (rest[0] !== "namespaces" || rest.length < 3) return undefined;
  const kind = RESOURCES[rest[2]];
  if (!kind) return undefined;
  return { apiVersion, kind, namespace: rest[1], name: rest[3], sub: rest[4] };
}

function selectorMatcher(labelSelector?: string, fieldSelector?: string): (object: KubeObject) => boolean {
  const checks: Array<(object: KubeObject) => boolean> = [];
  for (const term of (labelSelector ?? "").split(",").map((t) => t.trim()).filter(Boolean)) {
    const neq = term.match(/^([^!=]+)!=(.*)$/);
    const eq = term.match(/^([^!=]+)==?(.*)$/);
    if (neq) checks.push((o) => o.metadata.labels?.[neq[1]] !== neq[2]);
    else if (eq) checks.push((o) => o.metadata.labels?.[eq[1]] === eq[2]);
    else if (term.startsWith("!")) checks.push((o) => o.metadata.labels?.[term.slice(1)] === undefined);
    else checks.push((o) => o.metadata.labels?.[term] !== undefined);
  }
  for (const term of (fieldSelector ?? "").split(",").map((t) => t.trim()).filter(Boolean)) {
    const m = term.match(/^metadata\.(name|namespace)==?(.*)$/);
    if (!m) throw new Error(`unsupported fieldSelector ${term}`);
    checks.push((o) => o.metadata[m[1]] === m[2]);
  }
  return (object) => checks.every((check) => check(object));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 7386 JSON merge patch (strategic merge and apply are approximated by it: enough for these tests). */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (isObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));

/** metadata.generation after a write through the API: 1 on create, +1 whenever `spec` changes (as a real server). */
function withGeneration(existing: KubeObject | undefined, next: KubeObject): KubeObject {
  if (next.spec === undefined && existing?.spec === undefined) return next;
  const before = Number(existing?.metadata.generation ?? 1);
  const generation = !existing ? 1 : canonical(existing.spec) === canonical(next.spec) ? before : before + 1;
  return { ...next, metadata: { ...next.metadata, generation } };
}

/** A real API server's validation of an update that this server enforces: a Job's pod template is immutable. */
function immutableFieldChanged(existing: KubeObject | undefined, next: KubeObject): string | undefined {
  if (!existing || existing.kind !== "Job") return undefined;
  const template = (o: KubeObject) => canonical((o.spec as { template?: unknown } | undefined)?.template);
  return template(existing) === template(next) ? undefined : `Job.batch "${existing.metadata.name}" is invalid: spec.template: Invalid value: field is immutable`;
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code }));
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function logLines(text: string): Array<{ time: string; line: string }> {
  const time = new Date().toISOString().replace(/Z$/, "000000Z"); // nanosecond-style RFC 3339, as the kubelet writes
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((line) => ({ time, line }));
}

function kubeconfig(url: string, caPem: string, user: Record<string, string>): string {
  const caData = Buffer.from(caPem).toString("base64");
  const userLines = Object.entries(user).map(([k, v]) => `    ${k}: ${v}`).join("\n");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: test",
    "  cluster:",
    `    server: ${url}`,
    `    certificate-authority-data: ${caData}`,
    "users:",
    "- name: test",
    "  user:",
    userLines,
    "contexts:",
    "- name: test",
    "  context:",
    "    cluster: test",
    "    user: test",
    "    namespace: d8-system",
    "current-context: test",
    "",
  ].join("\n");
}

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const certs = await testCerts();
  let token = randomBytes(24).toString("hex");
  const access = new Access(token);
  const admission = options.deckhouse ? deckhouseAdmission(options.deckhouse.version) : undefined;
  const store = new Map<string, KubeObject>();
  /** Per object, each Server-Side Apply field manager's last applied configuration. */
  const appliers = new Map<string, Map<string, Record<string, unknown>>>();
  const podLogs = new Map<string, Array<{ time: string; line: string }>>();
  const createHooks = new Map<string, Array<(object: KubeObject) => void>>();
  const addedHooks = new Map<string, Array<(object: KubeObject) => void>>();
  const updateHooks = new Map<string, Array<(object: KubeObject, previous: KubeObject) => void>>();
  const requestHooks = new Set<(request: RecordedRequest) => void>();
  const watchers = new Set<Watcher>();
  const sockets = new Set<Socket>();
  const requests: RecordedRequest[] = [];
  let resourceVersion = 1000;
  let watchesToDrop = 0;
  let allDropped = () => {};

  const key = (apiVersion: string, kind: string, namespace: string, name: string) => `${apiVersion}|${kind}|${namespace}|${name}`;

  function notify(type: string, object: KubeObject): void {
    for (const watcher of watchers) {
      if (watcher.apiVersion === object.apiVersion && watcher.kind === object.kind && watcher.namespace === object.metadata.namespace && watcher.matches(object)) {
        watcher.send(type, object);
      }
    }
  }

  function put(object: KubeObject, fromDeletion = false): KubeObject {
    const namespace = object.metadata.namespace ?? (CLUSTER_SCOPED.has(object.kind) ? "" : "default");
    const k = key(object.apiVersion, object.kind, namespace, object.metadata.name);
    const existing = store.get(k);
    const stored: KubeObject = structuredClone({
      ...object,
      metadata: {
        creationTimestamp: new Date().toISOString(),
        ...object.metadata,
        namespace,
        uid: existing?.metadata.uid ?? object.metadata.uid ?? randomUUID(),
        resourceVersion: String(++resourceVersion),
      },
    });
    store.set(k, stored);
    notify(existing ? "MODIFIED" : "ADDED", stored);
    if (!existing) for (const hook of addedHooks.get(stored.kind) ?? []) hook(structuredClone(stored));
    else for (const hook of updateHooks.get(stored.kind) ?? []) hook(structuredClone(stored), structuredClone(existing));
    // a write that removed the last finalizer of a Terminating object lets it go
    if (!fromDeletion && stored.metadata.deletionTimestamp) deletion.collect();
    return stored;
  }

  function removeObject(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined {
    const k = key(apiVersion, kind, namespace, name);
    const existing = store.get(k);
    if (!existing) return undefined;
    store.delete(k);
    appliers.delete(k);
    const deleted = { ...existing, metadata: { ...existing.metadata, resourceVersion: String(++resourceVersion) } };
    notify("DELETED", deleted);
    return deleted;
  }

  const deletion = deletionController(
    { all: () => [...store.values()], put: (object) => put(object, true), drop: (object) => void removeObject(object.apiVersion, object.kind, object.metadata.namespace ?? "", object.metadata.name) },
    options.podTerminationMs ?? 0,
  );

  function list(apiVersion: string, kind: string, namespace: string): KubeObject[] {
    return [...store.values()].filter((o) => o.apiVersion === apiVersion && o.kind === kind && (namespace === "" || o.metadata.namespace === namespace));
  }

  // Server-Side Apply (JSON is YAML, so the apply body is parsed as JSON): see kube-api/server-side-apply.ts. Admission
  // judges the merged object; a dry run answers it without storing it or its field owners.
  function applyPatch(
    res: ServerResponse,
    at: Route & { name: string },
    existing: KubeObject | undefined,
    applied: KubeObject,
    query: Record<string, string>,
    admit: (operation: Operation, object: KubeObject, oldObject: KubeObject | undefined) => boolean,
  ): void {
    if (!query.fieldManager) return status(res, 422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
    if (applied.kind !== at.kind || applied.apiVersion !== at.apiVersion) return status(res, 400, "BadRequest", `expected ${at.apiVersion} ${at.kind}, got ${applied.apiVersion} ${applied.kind}`);
    const k = key(at.apiVersion, at.kind, at.namespace, at.name);
    const dryRun = query.dryRun === "All";
    const owners = new Map<string, Record<string, unknown>>(appliers.get(k) ?? []); // kept only if the apply is stored
    const result = serverSideApply(existing, applied, query.fieldManager, query.force === "true", owners);
    if ("conflict" in result) return status(res, 409, "Conflict", result.conflict);
    const merged = result.object as KubeObject;
    const invalid = immutableFieldChanged(existing, merged);
    if (invalid) return status(res, 422, "Invalid", invalid);
    const candidate: KubeObject = withGeneration(existing, { ...merged, apiVersion: at.apiVersion, kind: at.kind, metadata: { ...merged.metadata, name: at.name, namespace: at.namespace } });
    if (!admit(existing ? "UPDATE" : "CREATE", candidate, existing)) return;
    if (dryRun) return sendJson(res, existing ? 200 : 201, candidate);
    appliers.set(k, owners);
    sendJson(res, existing ? 200 : 201, put(candidate));
  }

  const rejections: Array<{ method: string; kind: string; code: number; reason: string; message: string }> = [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? "GET";
    const impersonateUser = req.headers["impersonate-user"] as string | undefined;
    const auth = req.headers.authorization ? "token" : (req.socket as TLSSocket).authorized ? "client-certificate" : undefined;
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      query,
      contentType: req.headers["content-type"],
      ...(auth ? { auth } : {}),
      ...(impersonateUser ? { impersonateUser } : {}),
      ...(query.fieldManager ? { fieldManager: query.fieldManager } : {}),
    };
    requests.push(record);
    for (const hook of [...requestHooks]) hook(record);
    res.on("finish", () => (record.code = res.statusCode));
    const authenticated = access.authenticate(req);
    if (!authenticated) return status(res, 401, "Unauthorized", "Unauthorized");
    const identity = access.identify(authenticated, req);
    if (isStatus(identity)) return sendStatus(res, identity);
    Object.assign(record, { user: identity.user, groups: identity.groups }, identity.impersonatedBy ? { impersonatedBy: identity.impersonatedBy } : {});
    if (url.pathname === "/version") return sendJson(res, 200, { major: "1", minor: "29", gitVersion: "v1.29.0-test" });

    const route = parseRoute(url.pathname);
    if (!route) return status(res, 404, "NotFound", `the server could not find the requested resource ${url.pathname}`);
    const { apiVersion, kind, namespace, name, sub } = route;
    const resource = Object.keys(RESOURCES).find((plural) => RESOURCES[plural] === kind) as string;
    record.attributes = requestAttributes(method, route, resource, query);
    const refusedAccess = access.authorize(identity, record.attributes);
    if (refusedAccess) return sendStatus(res, refusedAccess);
    // `All` is the only dry-run value kube-apiserver accepts; anything else is refused, never taken as a real write.
    if (query.dryRun !== undefined && query.dryRun !== "All") return status(res, 422, "Invalid", `dryRun: Unsupported value: "${query.dryRun}": supported values: "All"`);
    const dryRun = query.dryRun === "All";
    if (dryRun) record.dryRun = true;
    /** Admission of a write (a 403 Status answered, true returned, when a policy denies it). */
    const refusedByAdmission = (operation: Operation, object: KubeObject | undefined, oldObject: KubeObject | undefined): boolean => {
      const denial = admission?.({ operation, kind, resource, group: record.attributes?.apiGroup ?? "", name: (object ?? oldObject)?.metadata.name ?? name ?? "", identity, object, oldObject });
      if (denial) sendStatus(res, denial);
      return denial !== undefined;
    };
    const rejection = rejections.find((r) => r.method === method && r.kind === kind && !sub);
    if (rejection) return status(res, rejection.code, rejection.reason, rejection.message);

    if (sub === "log" && kind === "Pod" && method === "GET") {
      if (!store.has(key("v1", "Pod", namespace, name as string))) return status(res, 404, "NotFound", `pods "${name}" not found`);
      let lines = podLogs.get(`${namespace}/${name}`) ?? [];
      // sinceTime has second precision and is inclusive, as on a real API server.
      if (query.sinceTime) lines = lines.filter((l) => l.time.slice(0, 19) >= query.sinceTime.slice(0, 19));
      if (query.tailLines) lines = lines.slice(-Number(query.tailLines));
      const text = lines.map((l) => `${query.timestamps === "true" ? `${l.time} ` : ""}${l.line}\n`).join("");
      res.writeHead(200, { "content-type": "text/plain" });
      return void res.end(text);
    }
    if (sub) return status(res, 404, "NotFound", `subresource ${sub} is not served`);

    const notFound = () => status(res, 404, "NotFound", `${kind.toLowerCase()}s "${name}" not found`);

    if (method === "GET" && !name && (query.watch === "1" || query.watch === "true")) {
      const matches = selectorMatcher(query.labelSelector, query.fieldSelector);
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      const send = (type: string, object: KubeObject) => res.write(`${JSON.stringify({ type, object })}\n`);
      const since = query.resourceVersion ? Number(query.resourceVersion) : 0;
      for (const object of list(apiVersion, kind, namespace)) {
        if (matches(object) && Number(object.metadata.resourceVersion) > since) send("ADDED", object);
      }
      if (watchesToDrop > 0) {
        const last = --watchesToDrop === 0;
        setTimeout(() => {
          req.socket.destroy();
          if (last) allDropped();
        }, 50);
        return;
      }
      const watcher: Watcher = { apiVersion, kind, namespace, matches, send };
      watchers.add(watcher);
      const timeout = query.timeoutSeconds ? setTimeout(() => res.end(), Number(query.timeoutSeconds) * 1000) : undefined;
      res.on("close", () => {
        watchers.delete(watcher);
        if (timeout) clearTimeout(timeout);
      });
      return;
    }
    if (method === "GET" && !name) {
      const matches = selectorMatcher(query.labelSelector, query.fieldSelector);
      return sendJson(res, 200, {
        apiVersion,
        kind: `${kind}List`,
        metadata: { resourceVersion: String(resourceVersion) },
        items: list(apiVersion, kind, namespace).filter(matches),
      });
    }
    if (method === "GET") {
      const object = store.get(key(apiVersion, kind, namespace, name as string));
      return object ? sendJson(res, 200, object) : notFound();
    }
    if (method === "POST" && !name) {
      const body = JSON.parse(await readBody(req)) as KubeObject;
      if (body.kind !== kind || body.apiVersion !== apiVersion) return status(res, 400, "BadRequest", `expected ${apiVersion} ${kind}, got ${body.apiVersion} ${body.kind}`);
      if (!body.metadata?.name) return status(res, 422, "Invalid", "metadata.name: Required value");
      if (body.metadata.namespace && body.metadata.namespace !== namespace) return status(res, 400, "BadRequest", "the namespace of the object does not match the namespace on the request");
      if (store.has(key(apiVersion, kind, namespace, body.metadata.name))) {
        return status(res, 409, "AlreadyExists", `${kind.toLowerCase()}s "${body.metadata.name}" already exists`);
      }
      const candidate: KubeObject = withGeneration(undefined, { ...body, metadata: { ...body.metadata, namespace } });
      if (refusedByAdmission("CREATE", candidate, undefined)) return;
      if (dryRun) return sendJson(res, 201, { ...candidate, metadata: { creationTimestamp: new Date().toISOString(), ...candidate.metadata, uid: randomUUID() } });
      const stored = put(candidate);
      sendJson(res, 201, stored);
      for (const hook of createHooks.get(kind) ?? []) hook(structuredClone(stored));
      return;
    }
    // metadata.resourceVersion in a write is a precondition, as on a real API server
    const stale = (body: unknown, existing: KubeObject | undefined) => {
      const wanted = (body as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
      return existing && typeof wanted === "string" && wanted !== existing.metadata.resourceVersion;
    };
    const conflict = () =>
      status(res, 409, "Conflict", `Operation cannot be fulfilled on ${kind.toLowerCase()}s "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    if (method === "PUT" && name) {
      const body = JSON.parse(await readBody(req)) as KubeObject;
      const existing = store.get(key(apiVersion, kind, namespace, name));
      if (!existing) return notFound();
      if (stale(body, existing)) return conflict();
      const candidate: KubeObject = withGeneration(existing, { ...body, metadata: { ...body.metadata, name, namespace } });
      if (refusedByAdmission("UPDATE", candidate, existing)) return;
      if (dryRun) return sendJson(res, 200, { ...candidate, metadata: { ...candidate.metadata, uid: existing.metadata.uid, resourceVersion: existing.metadata.resourceVersion } });
      return sendJson(res, 200, put(candidate));
    }
    if (method === "PATCH" && name) {
      const patch = JSON.parse(await readBody(req)) as unknown;
      const existing = store.get(key(apiVersion, kind, namespace, name));
      const contentType = req.headers["content-type"] ?? "";
      if (stale(patch, existing)) return conflict();
      if (contentType.startsWith("application/apply-patch")) {
        return applyPatch(res, { apiVersion, kind, namespace, name }, existing, patch as KubeObject, query, (operation, object, oldObject) => !refusedByAdmission(operation, object, oldObject));
      }
      if (!existing) return notFound();
      const merged = mergePatch(existing ?? {}, patch) as KubeObject;
      const invalid = immutableFieldChanged(existing, merged);
      if (invalid) return status(res, 422, "Invalid", invalid);
      const candidate: KubeObject = withGeneration(existing, { ...merged, apiVersion, kind, metadata: { ...merged.metadata, name, namespace } });
      if (refusedByAdmission(existing ? "UPDATE" : "CREATE", candidate, existing)) return;
      if (dryRun) return sendJson(res, existing ? 200 : 201, candidate);
      return sendJson(res, existing ? 200 : 201, put(candidate));
    }
    if (method === "DELETE" && name) {
      // DeleteOptions.preconditions.uid: only that very object may go, as on a real API server
      const options = (await readBody(req)).trim();
      const uid = options ? (JSON.parse(options) as { preconditions?: { uid?: string } }).preconditions?.uid : undefined;
      const current = store.get(key(apiVersion, kind, namespace, name));
      if (uid && current && current.metadata.uid !== uid) {
        return status(res, 409, "Conflict", `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${current.metadata.uid}`);
      }
      if (!current) return notFound();
      if (refusedByAdmission("DELETE", undefined, current)) return;
      if (dryRun) return sendJson(res, 200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, kind: `${kind.toLowerCase()}s` } });
      // batch/v1 Jobs orphan their pods unless the caller asks for propagation, as the real API server does.
      const policy = (query.propagationPolicy ?? (kind === "Job" ? "Orphan" : "Background")) as Propagation;
      const terminating = deletion.remove(current, policy);
      if (terminating) return sendJson(res, 200, terminating);
      return sendJson(res, 200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, kind: `${kind.toLowerCase()}s` } });
    }
    return status(res, 405, "MethodNotAllowed", `${method} is not allowed on ${url.pathname}`);
  }

  const server = createServer(
    { cert: certs.certPem, key: certs.keyPem, ca: certs.caPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      handle(req, res).catch((error: unknown) => status(res, 500, "InternalError", String(error)));
    },
  );
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    caPem: certs.caPem,
    get token() {
      return token;
    },
    get kubeconfigYaml() {
      return kubeconfig(url, certs.caPem, { token });
    },
    rotateToken(old = token) {
      const fresh = randomBytes(24).toString("hex");
      if (old === token) token = fresh;
      access.replaceToken(old, fresh);
      return kubeconfig(url, certs.caPem, { token: fresh });
    },
    async clientCertKubeconfigYaml() {
      const stem = join(certs.dir, `client-${randomBytes(4).toString("hex")}`);
      await run("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${stem}.key`, "-out", `${stem}.csr`, "-subj", "/CN=admin/O=system:masters"], { timeout: 30_000 });
      writeFileSync(`${stem}.ext`, "extendedKeyUsage=clientAuth\n");
      await run("openssl", ["x509", "-req", "-in", `${stem}.csr`, "-CA", certs.caFile, "-CAkey", join(certs.dir, "ca.key"), "-CAcreateserial", "-out", `${stem}.crt`, "-days", "2", "-extfile", `${stem}.ext`], { timeout: 30_000 });
      return kubeconfig(url, certs.caPem, {
        "client-certificate-data": readFileSync(`${stem}.crt`).toString("base64"),
        "client-key-data": readFileSync(`${stem}.key`).toString("base64"),
      });
    },
    requests,
    put,
    get: (apiVersion, kind, namespace, name) => structuredClone(store.get(key(apiVersion, kind, namespace, name))),
    list: (apiVersion, kind, namespace) => structuredClone(list(apiVersion, kind, namespace)),
    remove: (apiVersion, kind, namespace, name) => void removeObject(apiVersion, kind, namespace, name),
    setPodLog: (namespace, pod, text) => void podLogs.set(`${namespace}/${pod}`, logLines(text)),
    appendPodLog: (namespace, pod, text) => void podLogs.set(`${namespace}/${pod}`, [...(podLogs.get(`${namespace}/${pod}`) ?? []), ...logLines(text)]),
    onCreate(kind, handler) {
      createHooks.set(kind, [...(createHooks.get(kind) ?? []), handler]);
    },
    onRequest(handler) {
      requestHooks.add(handler);
      return () => void requestHooks.delete(handler);
    },
    onAdded(kind, handler) {
      addedHooks.set(kind, [...(addedHooks.get(kind) ?? []), handler]);
    },
    onUpdate(kind, handler) {
      updateHooks.set(kind, [...(updateHooks.get(kind) ?? []), handler]);
      return () => void updateHooks.set(kind, (updateHooks.get(kind) ?? []).filter((h) => h !== handler));
    },
    dropNextWatches(count) {
      watchesToDrop = count;
      return new Promise<void>((resolve) => (allDropped = resolve));
    },
    addToken(spec) {
      const added = randomBytes(24).toString("hex");
      access.addToken(added, spec);
      return added;
    },
    setGrants: (user, grants) => access.setGrants(user, grants),
    kubeconfigFor(bearer = token, as = {}) {
      const impersonation = { ...(as.as ? { as: JSON.stringify(as.as) } : {}), ...(as.asGroups ? { "as-groups": JSON.stringify(as.asGroups) } : {}) };
      return kubeconfig(url, certs.caPem, { token: bearer, ...impersonation });
    },
    rejectRequests(match, code, reason, message) {
      const rejection = { ...match, code, reason, message };
      rejections.push(rejection);
      return () => void rejections.splice(rejections.indexOf(rejection), 1);
    },
    async stop() {
      deletion.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
