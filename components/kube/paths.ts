// REST paths of objects: `/api/v1/...` for the core group, `/apis/<group>/<version>/...` otherwise; namespaced
// objects under `namespaces/<ns>/`, cluster-scoped ones (no namespace) directly under the group version.
export interface ObjectRef {
  apiVersion: string;
  /** Lower-case plural resource name, e.g. `jobs`, `secrets`, `deployments`. */
  resource: string;
  /** Absent for a cluster-scoped resource (e.g. `deckhousereleases`). */
  namespace?: string;
  name?: string;
}

export function apiPath(ref: ObjectRef): string {
  const base = ref.apiVersion.includes("/") ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  const scope = ref.namespace === undefined ? base : `${base}/namespaces/${encodeURIComponent(ref.namespace)}`;
  const collection = `${scope}/${ref.resource}`;
  return ref.name === undefined ? collection : `${collection}/${encodeURIComponent(ref.name)}`;
}
