// A simulation of the @pulumi/kubernetes provider v4.23.0 (its binary does not run here) that talks to the
// Kubernetes API test server through its REST API over HTTPS, as the provider's client-go does: every request
// carries the identity of the resource's provider configuration (kube-connection.ts: the explicit provider's
// kubeconfig, or the default provider's = the stack's `kubernetes:kubeconfig`; server, token or client
// certificate, `as:` as Impersonate-User). What it does, after the provider's sources
// (pulumi-kubernetes v4.23.0, provider/pkg/await/await.go, provider/pkg/provider/provider.go,
// provider/pkg/metadata/overrides.go, provider/pkg/ssa/actions.go), in Server-Side Apply mode (the default):
// - Create is an SSA apply (PATCH `application/apply-patch+yaml`, the resource's field manager, force only with
//   `pulumi.com/patchForce` or PULUMI_K8S_ENABLE_PATCH_FORCE): an upsert, never "already exists". Update is an
//   apply of the new inputs by the same manager (fields it no longer sets go). The field manager is
//   `pulumi.com/patchFieldManager` or a random `pulumi-kubernetes-<hex>`, kept in the outputs as `__fieldManager`.
// - `...:<Kind>Patch` (DeploymentPatch, SecretPatch, ...): the same applies; the object must exist (a real server
//   rejects the partial object the apply would create); Delete relinquishes the manager's fields (an apply of the
//   bare identity, without force).
// - Delete of an object: DELETE with the `pulumi.com/deletionPropagationPolicy` (Foreground by default), then a wait
//   until it is gone, except with `pulumi.com/skipAwait: "true"` on the kinds that allow it (Job, Deployment, ...):
//   Delete then returns at once while the object may still be terminating.
// - Nothing is awaited on create/update (no readiness logic): outputs are the object the server answered.
// - Replacement: a changed name, namespace, kind or apiVersion, a Job's `spec` (immutable), an `immutable` Secret's
//   or ConfigMap's data; delete-before-replace when the name stays the same. A Job annotated
//   `pulumi.com/replaceUnready: "true"` whose live object exists without a Complete condition is replaced (Diff
//   reads the live Job; a missing one is no reason).
// - A Secret's `stringData` is folded into `data` (base64) before it is sent (the test server does not fold it);
//   a Secret's `data` and `stringData` are secret in the checked inputs and in the outputs, for Secret and
//   SecretPatch alike.
// - Autonaming: no `metadata.name` gives `<resource name>-<8 hex>` (kept across updates); no namespace: the
//   provider's default namespace. Cluster-scoped kinds come from a fixed list (no discovery).
import { randomBytes } from "node:crypto";
import type { KubeObject } from "../kube-api-server";
import type { EngineProvider } from "./engine-provider";
import { apiPath } from "../../../components/kube/paths";
import type { KubeConnection } from "./kube-connection";
import { changedKeys, containsUnknown, isObject, secret, stripSecrets, type PropertyMap } from "./property-values";

interface KubeType {
  apiVersion: string;
  kind: string;
  patch: boolean;
}

/** `kubernetes:core/v1:Secret` -> v1 Secret; `kubernetes:apps/v1:DeploymentPatch` -> apps/v1 Deployment, a patch. */
export function parseKubeType(type: string): KubeType {
  const m = type.match(/^kubernetes:([^:]+):([^:]+)$/);
  if (!m) throw new Error(`not a Kubernetes resource type: ${type}`);
  const apiVersion = m[1].startsWith("core/") ? m[1].slice("core/".length) : m[1];
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  const builtIn = !group.includes(".") || group.endsWith(".k8s.io");
  const patch = builtIn && m[2].endsWith("Patch");
  return { apiVersion, kind: patch ? m[2].slice(0, -"Patch".length) : m[2], patch };
}

const CLUSTER_SCOPED = new Set(["Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ModuleConfig", "DeckhouseRelease", "ModuleSource", "ModuleUpdatePolicy"]);

/** Kinds whose Delete honours skipAwait (metadata/overrides.go allowsSkipAwaitWithDelete). */
const SKIP_AWAIT_ON_DELETE = new Set(["Namespace", "Pod", "ReplicationController", "DaemonSet", "Deployment", "StatefulSet", "Job"]);

interface ObjectName {
  /** "" for a cluster-scoped kind. */
  namespace: string;
  name: string;
}

function plural(kind: string): string {
  const lower = kind.toLowerCase();
  if (/(s|x|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

function pathOf(t: KubeType, at: ObjectName): string {
  return apiPath({ apiVersion: t.apiVersion, resource: plural(t.kind), ...(at.namespace ? { namespace: at.namespace } : {}), name: at.name });
}

function annotationsOf(props: PropertyMap): Record<string, string> {
  return ((stripSecrets(props.metadata) ?? {}) as { annotations?: Record<string, string> }).annotations ?? {};
}

/** Whether an apply may take fields from other managers (await.go patchForce, for objects with managed fields). */
function patchForce(props: PropertyMap): boolean {
  if (annotationsOf(props)["pulumi.com/patchForce"] === "true") return true;
  return process.env.PULUMI_K8S_ENABLE_PATCH_FORCE === "true";
}

function deleteTimeoutMs(props: PropertyMap): number {
  const seconds = Number(annotationsOf(props)["pulumi.com/timeoutSeconds"]);
  return (Number.isInteger(seconds) && seconds > 0 ? seconds : 600) * 1000;
}

function statusMessage(body: unknown): string {
  return isObject(body) && typeof body.message === "string" ? body.message : JSON.stringify(body).slice(0, 300);
}

function withoutUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function foldStringData(object: KubeObject): KubeObject {
  if (object.kind !== "Secret" || !isObject(object.stringData)) return object;
  const { stringData, ...rest } = object;
  const data: Record<string, string> = { ...((rest.data as Record<string, string>) ?? {}) };
  for (const [key, value] of Object.entries(stringData)) data[key] = Buffer.from(String(value), "utf8").toString("base64");
  return { ...rest, data };
}

function markSecretData(kind: string, props: PropertyMap): PropertyMap {
  if (kind !== "Secret") return props;
  const marked = { ...props };
  for (const key of ["data", "stringData"]) if (marked[key] !== undefined) marked[key] = secret(marked[key]);
  return marked;
}


export function kubernetesProvider(connect: () => Promise<KubeConnection>): EngineProvider {
  let connection: Promise<KubeConnection> | undefined;
  const conn = () => (connection ??= connect());

  async function nameOf(t: KubeType, props: PropertyMap): Promise<ObjectName> {
    const metadata = (stripSecrets(props.metadata) ?? {}) as { name?: string; namespace?: string };
    if (CLUSTER_SCOPED.has(t.kind)) return { namespace: "", name: metadata.name ?? "" };
    return { namespace: metadata.namespace || (await conn()).namespace, name: metadata.name ?? "" };
  }

  /** `ns/name` or `name` (the provider's default namespace), as `.get()` takes it. */
  async function parseId(t: KubeType, id: string): Promise<ObjectName> {
    const [a, b] = id.split("/");
    if (b !== undefined) return { namespace: a, name: b };
    return CLUSTER_SCOPED.has(t.kind) ? { namespace: "", name: a } : { namespace: (await conn()).namespace, name: a };
  }

  async function live(t: KubeType, at: ObjectName): Promise<KubeObject | undefined> {
    const res = await (await conn()).call("GET", pathOf(t, at));
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw new Error(`${t.kind} ${at.namespace}/${at.name}: GET ${res.statusCode}: ${statusMessage(res.body)}`);
    return res.body as KubeObject;
  }

  async function apply(t: KubeType, at: ObjectName, object: unknown, manager: string, force: boolean): Promise<KubeObject> {
    const res = await (await conn()).call("PATCH", pathOf(t, at), {
      query: { fieldManager: manager, ...(force ? { force: "true" } : {}) },
      body: object,
      contentType: "application/apply-patch+yaml",
    });
    if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`${t.kind} ${at.namespace}/${at.name}: server-side apply failed: ${res.statusCode} ${statusMessage(res.body)}`);
    return res.body as KubeObject;
  }

  function objectFrom(t: KubeType, inputs: PropertyMap, at: ObjectName): KubeObject {
    const plain = withoutUndefined(stripSecrets(inputs)) as KubeObject;
    const metadata = { ...(plain.metadata ?? {}), name: at.name, ...(at.namespace ? { namespace: at.namespace } : {}) };
    return foldStringData({ ...plain, apiVersion: t.apiVersion, kind: t.kind, metadata });
  }

  function outputsOf(t: KubeType, object: KubeObject, fieldManager: string | undefined): PropertyMap {
    return markSecretData(t.kind, { ...(structuredClone(object) as PropertyMap), ...(fieldManager ? { __fieldManager: fieldManager } : {}) });
  }

  /** provider.go fieldManagerName: the annotation, else the one in the state, else a fresh random one. */
  function fieldManagerOf(inputs: PropertyMap, state?: PropertyMap): string {
    const annotated = annotationsOf(inputs)["pulumi.com/patchFieldManager"];
    if (annotated) return annotated;
    if (typeof state?.__fieldManager === "string") return state.__fieldManager;
    return `pulumi-kubernetes-${randomBytes(4).toString("hex")}`;
  }

  async function awaitGone(t: KubeType, at: ObjectName, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (await live(t, at)) {
      if (Date.now() > deadline) throw new Error(`${t.kind} ${at.namespace}/${at.name}: still there ${timeoutMs / 1000} s after its deletion (finalizers or dependents left?)`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  return {
    async check(goal, olds, news) {
      const t = parseKubeType(goal.type);
      const checked: PropertyMap = { ...news };
      const metadata = isObject(news.metadata) ? { ...news.metadata } : {};
      if (!t.patch && !metadata.name) {
        const old = (olds?.metadata ?? {}) as { name?: string; annotations?: Record<string, string> };
        metadata.name = old.annotations?.["pulumi.com/autonamed"] === "true" && old.name ? old.name : `${goal.name}-${randomBytes(4).toString("hex")}`;
        metadata.annotations = { ...((metadata.annotations as object) ?? {}), "pulumi.com/autonamed": "true" };
      }
      checked.metadata = metadata;
      return markSecretData(t.kind, checked);
    },

    async diff(goal, old, news) {
      const t = parseKubeType(goal.type);
      const keys = changedKeys(stripSecrets(old.inputs), stripSecrets(news));
      const before = await nameOf(t, old.inputs);
      const after = await nameOf(t, news);
      const replaces: string[] = [];
      if (before.name !== after.name || before.namespace !== after.namespace) replaces.push("metadata");
      if (!t.patch && t.kind === "Job" && keys.includes("spec")) replaces.push("spec");
      if (!t.patch && (t.kind === "Secret" || t.kind === "ConfigMap") && stripSecrets(old.inputs).immutable === true) {
        replaces.push(...keys.filter((k) => ["data", "stringData", "binaryData"].includes(k)));
      }
      if (!t.patch && t.kind === "Job" && annotationsOf(news)["pulumi.com/replaceUnready"] === "true") {
        const current = (await live(t, before).catch(() => undefined)) as { status?: { conditions?: Array<{ type: string; status: string }> } } | undefined;
        const complete = current?.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True");
        if (current && !complete) replaces.push('.metadata.annotations["pulumi.com/replaceUnready"]');
      }
      const unknownName = containsUnknown(news.metadata);
      return { changes: keys.length > 0 || replaces.length > 0, replaces, deleteBeforeReplace: !unknownName && before.name === after.name, keys };
    },

    async create(goal, news) {
      const t = parseKubeType(goal.type);
      const at = await nameOf(t, news);
      const manager = fieldManagerOf(news);
      if (t.patch && !(await live(t, at))) throw new Error(`${goal.type} ${at.namespace}/${at.name}: the object to patch does not exist`);
      const object = await apply(t, at, objectFrom(t, news, at), manager, patchForce(news));
      return { id: at.namespace ? `${at.namespace}/${at.name}` : at.name, outputs: outputsOf(t, object, manager) };
    },

    async update(goal, old, news) {
      const t = parseKubeType(goal.type);
      const at = await nameOf(t, news);
      if (!(await live(t, at))) throw new Error(`${t.kind} ${at.namespace}/${at.name} does not exist (deleted outside Pulumi?)`);
      const manager = fieldManagerOf(news, old.outputs);
      // an object with managed fields: force only as patchForce says (await.go ssaUpdate)
      return outputsOf(t, await apply(t, at, objectFrom(t, news, at), manager, patchForce(news)), manager);
    },

    async read(goal, id, old) {
      const t = parseKubeType(goal.type);
      const at = old ? await nameOf(t, old.inputs.metadata ? old.inputs : old.outputs) : await parseId(t, id);
      const object = await live(t, at);
      if (!object) {
        if (!old) throw new Error(`${t.kind} ${at.namespace}/${at.name} does not exist (read by .get())`);
        return undefined;
      }
      return { id: old?.id ?? id, outputs: outputsOf(t, object, old && typeof old.outputs.__fieldManager === "string" ? old.outputs.__fieldManager : undefined) };
    },

    async delete(goal, old) {
      const t = parseKubeType(goal.type);
      const props = old.inputs.metadata ? old.inputs : old.outputs;
      const at = await nameOf(t, props);
      if (t.patch) {
        if (!(await live(t, at))) return;
        await apply(t, at, { apiVersion: t.apiVersion, kind: t.kind, metadata: { name: at.name, ...(at.namespace ? { namespace: at.namespace } : {}) } }, fieldManagerOf(old.inputs, old.outputs), false);
        return;
      }
      const policy = { orphan: "Orphan", background: "Background" }[(annotationsOf(props)["pulumi.com/deletionPropagationPolicy"] ?? "").toLowerCase()] ?? "Foreground";
      const res = await (await conn()).call("DELETE", pathOf(t, at), { query: { propagationPolicy: policy } });
      if (res.statusCode === 404) return;
      if (res.statusCode !== 200 && res.statusCode !== 202) throw new Error(`${t.kind} ${at.namespace}/${at.name}: delete failed: ${res.statusCode} ${statusMessage(res.body)}`);
      if (annotationsOf(props)["pulumi.com/skipAwait"] === "true" && SKIP_AWAIT_ON_DELETE.has(t.kind)) return;
      await awaitGone(t, at, deleteTimeoutMs(props));
    },

    async close() {
      if (connection) await (await connection.catch(() => undefined))?.close();
    },
  };
}
