// A simulation of the @pulumi/kubernetes provider (the provider binary does not run here) against the Kubernetes
// API test server's object store. It is deliberately simple, and documented here because tests depend on it:
// - `kubernetes:<group>/<version>:<Kind>` creates, updates (a JSON merge patch from the old inputs to the new ones)
//   and deletes the object itself; a Job's pods go with it. Creating an object that already exists fails, as
//   does reading (`.get()`) one that does not. Nothing is awaited (no readiness logic): outputs are the live object.
// - `...:<Kind>Patch` (DeploymentPatch, SecretPatch, ...) merges its fields into the live object, which must exist;
//   lists of objects with a `name` (containers, env) merge by name, like Server-Side Apply's keyed lists. An update
//   first removes the fields the old patch set and the new one does not; a delete removes every field it set (as
//   if `pulumi.com/patchForce` had taken them from every other field manager). Field managers and conflicts are not
//   modelled.
// - Replacement: a changed name, namespace, kind or apiVersion, a Job's `spec` (immutable), an `immutable` Secret's
//   or ConfigMap's data; delete-before-replace when the name stays the same. A Job annotated
//   `pulumi.com/replaceUnready: "true"` whose live object exists without a Complete condition is replaced, as the
//   provider does (it reads the live Job in Diff; a missing one is no reason).
// - A Secret's `stringData` is folded into `data` (base64), as the API server does; a Secret's `data` and
//   `stringData` are secret in the checked inputs and in the outputs, for Secret and SecretPatch alike (the
//   provider marks Secret data secret).
// - Autonaming: no `metadata.name` gives `<resource name>-<8 hex>` (kept across updates).
// - Every object lands in the one test server, whatever the provider's kubeconfig says.
import { randomBytes } from "node:crypto";
import type { KubeApiServer, KubeObject } from "../kube-api-server";
import type { EngineProvider } from "./engine-provider";
import { changedKeys, containsUnknown, deepEqual, isObject, secret, stripSecrets, type PropertyMap } from "./property-values";

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

function identity(props: PropertyMap): { namespace: string; name: string } {
  const metadata = (stripSecrets(props.metadata) ?? {}) as { name?: string; namespace?: string };
  return { namespace: metadata.namespace || "default", name: metadata.name ?? "" };
}

/** `ns/name` or `name` (the `default` namespace), as `.get()` takes it. */
function parseId(id: string): { namespace: string; name: string } {
  const [a, b] = id.split("/");
  return b === undefined ? { namespace: "default", name: a } : { namespace: a, name: b };
}

function withoutUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const isNamedList = (value: unknown): value is Array<Record<string, unknown>> =>
  Array.isArray(value) && value.length > 0 && value.every((item) => isObject(item) && typeof item.name === "string");

/** JSON merge patch, except that lists of named objects merge item by item (Server-Side Apply's keyed lists). */
export function mergeKeyed(target: unknown, patch: unknown): unknown {
  if (isNamedList(patch) && (target === undefined || isNamedList(target))) {
    const merged = [...((target as Array<Record<string, unknown>>) ?? [])];
    for (const item of patch) {
      const i = merged.findIndex((t) => t.name === item.name);
      if (i >= 0) merged[i] = mergeKeyed(merged[i], item) as Record<string, unknown>;
      else merged.push(item);
    }
    return merged;
  }
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergeKeyed(result[key], value);
  }
  return result;
}

/** Removes from target every leaf field that patch sets (a named list item keeps its name). */
export function removeFields(target: unknown, patch: unknown): unknown {
  if (isNamedList(patch) && isNamedList(target)) {
    return target.map((item) => {
      const own = patch.find((p) => p.name === item.name);
      if (!own) return item;
      const { name: _name, ...rest } = own;
      return removeFields(item, rest);
    });
  }
  if (!isObject(patch) || !isObject(target)) return target;
  const result: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (!(key in result)) continue;
    if (isObject(value) || isNamedList(value)) {
      result[key] = removeFields(result[key], value);
      if (isObject(result[key]) && Object.keys(result[key] as object).length === 0) delete result[key];
    } else {
      delete result[key];
    }
  }
  return result;
}

/** The merge patch that turns `from` into `to` (removed keys become null; lists are replaced whole). */
function mergePatchBetween(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
    if (!(key in to) || to[key] === undefined) patch[key] = null;
    else if (!deepEqual(from[key], to[key])) patch[key] = mergePatchBetween(from[key], to[key]);
  }
  return patch;
}

/** A patch's own fields: everything but the object's identity (apiVersion, kind, name, namespace). */
function patchedFields(object: KubeObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata, ...rest } = object;
  const { name: _n, namespace: _ns, ...meta } = metadata ?? {};
  return Object.keys(meta).length > 0 ? { ...rest, metadata: meta } : rest;
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

export function kubernetesProvider(kube: KubeApiServer): EngineProvider {
  const live = (t: KubeType, namespace: string, name: string) => kube.get(t.apiVersion, t.kind, namespace, name);

  function objectFrom(t: KubeType, inputs: PropertyMap): KubeObject {
    const plain = withoutUndefined(stripSecrets(inputs)) as KubeObject;
    return foldStringData({ ...plain, apiVersion: t.apiVersion, kind: t.kind });
  }

  function outputsOf(t: KubeType, object: KubeObject): PropertyMap {
    return markSecretData(t.kind, structuredClone(object) as PropertyMap);
  }

  function removeJobPods(t: KubeType, namespace: string, name: string): void {
    if (t.kind !== "Job") return;
    for (const pod of kube.list("v1", "Pod", namespace)) {
      if (pod.metadata.labels?.["job-name"] === name) kube.remove("v1", "Pod", namespace, pod.metadata.name);
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
      const before = identity(old.inputs);
      const after = identity(news);
      const replaces: string[] = [];
      if (before.name !== after.name || before.namespace !== after.namespace) replaces.push("metadata");
      if (!t.patch && t.kind === "Job" && keys.includes("spec")) replaces.push("spec");
      if (!t.patch && (t.kind === "Secret" || t.kind === "ConfigMap") && stripSecrets(old.inputs).immutable === true) {
        replaces.push(...keys.filter((k) => ["data", "stringData", "binaryData"].includes(k)));
      }
      const annotations = ((stripSecrets(news.metadata) ?? {}) as { annotations?: Record<string, string> }).annotations ?? {};
      if (!t.patch && t.kind === "Job" && annotations["pulumi.com/replaceUnready"] === "true") {
        const current = live(t, before.namespace, before.name) as { status?: { conditions?: Array<{ type: string; status: string }> } } | undefined;
        const complete = current?.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True");
        if (current && !complete) replaces.push('.metadata.annotations["pulumi.com/replaceUnready"]');
      }
      const unknownName = containsUnknown(news.metadata);
      return { changes: keys.length > 0 || replaces.length > 0, replaces, deleteBeforeReplace: !unknownName && before.name === after.name, keys };
    },

    async create(goal, news) {
      const t = parseKubeType(goal.type);
      const { namespace, name } = identity(news);
      const object = objectFrom(t, news);
      const existing = live(t, namespace, name);
      if (t.patch) {
        if (!existing) throw new Error(`${goal.type} ${namespace}/${name}: the object to patch does not exist`);
        const patched = mergeKeyed(existing, { ...object, apiVersion: t.apiVersion, kind: t.kind }) as KubeObject;
        return { id: `${namespace}/${name}`, outputs: outputsOf(t, kube.put(patched)) };
      }
      if (existing) throw new Error(`${t.kind} ${namespace}/${name} already exists`);
      return { id: `${namespace}/${name}`, outputs: outputsOf(t, kube.put({ ...object, metadata: { ...object.metadata, namespace } })) };
    },

    async update(goal, old, news) {
      const t = parseKubeType(goal.type);
      const { namespace, name } = identity(news);
      const existing = live(t, namespace, name);
      if (!existing) throw new Error(`${t.kind} ${namespace}/${name} does not exist (deleted outside Pulumi?)`);
      const before = objectFrom(t, old.inputs);
      const after = objectFrom(t, news);
      const updated = t.patch
        ? mergeKeyed(removeFields(existing, removeFields(before, after)), after)
        : mergeKeyed(existing, mergePatchBetween(before, after));
      return outputsOf(t, kube.put(updated as KubeObject));
    },

    async read(goal, id, old) {
      const t = parseKubeType(goal.type);
      const { namespace, name } = old ? identity(old.inputs.metadata ? old.inputs : old.outputs) : parseId(id);
      const object = live(t, namespace, name);
      if (!object) {
        if (!old) throw new Error(`${t.kind} ${namespace}/${name} does not exist (read by .get())`);
        return undefined;
      }
      return { id: old?.id ?? id, outputs: outputsOf(t, object) };
    },

    async delete(goal, old) {
      const t = parseKubeType(goal.type);
      const { namespace, name } = identity(old.inputs.metadata ? old.inputs : old.outputs);
      const existing = live(t, namespace, name);
      if (!existing) return;
      if (t.patch) {
        kube.put(removeFields(existing, patchedFields(objectFrom(t, old.inputs))) as KubeObject);
        return;
      }
      kube.remove(t.apiVersion, t.kind, namespace, name);
      removeJobPods(t, namespace, name);
    },
  };
}
