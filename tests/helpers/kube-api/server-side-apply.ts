// Server-Side Apply as the Kubernetes API test server approximates it (PATCH with `application/apply-patch+yaml`):
// - the applied configuration is merged into the live object; lists of objects with a `name` (containers, env,
//   volumes) merge item by item, as SSA's keyed lists do; other lists and scalars are replaced;
// - each field manager owns what it applied last: fields it applied before and leaves out now are removed (an
//   apply of the bare identity relinquishes everything it owned, as pulumi-kubernetes' ssa.Relinquish relies on);
// - a field another manager applied with a different value is a 409 Conflict unless `force=true`; with force the
//   applier takes it over (the other manager no longer owns it).
// Ownership is kept per manager as its last applied configuration (not rendered as managedFields), and only
// between Apply managers: fields written by POST/PUT/merge patch are owned by nobody here.
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

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

/** Removes from target every leaf field that `fields` sets (a named list item keeps its name). */
export function removeFields(target: unknown, fields: unknown): unknown {
  if (isNamedList(fields) && isNamedList(target)) {
    return target.map((item) => {
      const own = fields.find((p) => p.name === item.name);
      if (!own) return item;
      const { name: _name, ...rest } = own;
      return removeFields(item, rest);
    });
  }
  if (!isObject(fields) || !isObject(target)) return target;
  const result: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(fields)) {
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

/** Leaf paths an applied configuration sets (named list items addressed by name), with their values. */
function leaves(value: unknown, path: string, out: Map<string, string>): Map<string, string> {
  if (isNamedList(value)) {
    for (const item of value) {
      const { name, ...rest } = item;
      leaves(rest, `${path}[name=${String(name)}]`, out);
    }
  } else if (isObject(value)) {
    for (const [key, v] of Object.entries(value)) leaves(v, `${path}.${key}`, out);
  } else {
    out.set(path, JSON.stringify(value));
  }
  return out;
}

/** The identity every apply carries: not owned by anyone. */
function ownedPart(applied: Record<string, unknown>): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata, ...rest } = applied;
  const { name: _n, namespace: _ns, resourceVersion: _rv, ...meta } = (isObject(metadata) ? metadata : {}) as Record<string, unknown>;
  return Object.keys(meta).length > 0 ? { ...rest, metadata: meta } : rest;
}

export type ApplyResult = { object: Record<string, unknown> } | { conflict: string };

/**
 * Applies `applied` as `manager` onto `live` (undefined: the object is created). `owners` holds each manager's last
 * applied configuration for this object and is updated on success.
 */
export function serverSideApply(live: Record<string, unknown> | undefined, applied: Record<string, unknown>, manager: string, force: boolean, owners: Map<string, Record<string, unknown>>): ApplyResult {
  const mine = ownedPart(applied);
  const wanted = leaves(mine, "", new Map());
  const taken: Array<{ other: string; fields: Record<string, unknown> }> = [];
  for (const [other, theirs] of owners) {
    if (other === manager) continue;
    const clashing = [...leaves(theirs, "", new Map())].filter(([path, value]) => wanted.has(path) && wanted.get(path) !== value).map(([path]) => path);
    if (clashing.length === 0) continue;
    if (!force) return { conflict: `Apply failed with ${clashing.length} conflict${clashing.length > 1 ? "s" : ""}: conflict with "${other}": ${clashing.join(", ")}` };
    taken.push({ other, fields: mine });
  }
  const previous = owners.get(manager) ?? {};
  const dropped = removeFields(previous, mine);
  // a field another manager still applies stays when this one lets go of it
  let released = dropped;
  for (const [other, theirs] of owners) if (other !== manager) released = removeFields(released, theirs);
  const base = live ? removeFields(live, released) : {};
  const object = mergeKeyed(base, { ...applied, metadata: { ...((isObject(applied.metadata) ? applied.metadata : {}) as object) } }) as Record<string, unknown>;
  for (const { other, fields } of taken) owners.set(other, removeFields(owners.get(other), fields) as Record<string, unknown>);
  if (Object.keys(mine).length === 0) owners.delete(manager);
  else owners.set(manager, structuredClone(mine));
  return { object };
}
