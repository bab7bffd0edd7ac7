// REST paths of namespaced objects: `/api/v1/...` for the core group, `/apis/<group>/<version>/...` otherwise.
export interface ObjectRef {
  apiVersion: string;
  /** Lower-case plural resource name, e.g. `jobs`, `secrets`, `deployments`. */
  resource: string;
  namespace: string;
  name?: string;
}

export function apiPath(ref: ObjectRef): string {
  const base = ref.apiVersion.includes("/") ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  const collection = `${base}/namespaces/${encodeURIComponent(ref.namespace)}/${ref.resource}`;
  return ref.name === undefined ? collection : `${collection}/${encodeURIComponent(ref.name)}`;
}
