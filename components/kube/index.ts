// The one Kubernetes API client of this project (dynamic providers of both stages use it).
export { type KubeAccess, configuredAccess, kubeAccessFromConfig, loadKubeConfig } from "./access";
export { type KubeClient, KubeApiError, connectKube, withKube } from "./client";
export { apiPath, type ObjectRef } from "./paths";
export { isKubeStatus } from "./client";
export { decodeBase64, dockerConfigJson, encodeBase64 } from "./secret-data";
