// A run's image pull Secret: a `kubernetes.io/dockerconfigjson` Secret holding the target credentials for the
// target registry's host, so the nodes can pull a copierImage that lives there (published by `publish-image`).
// Its data is a Pulumi secret; it is one of the run's objects (run-objects.ts: run key, replaced with the Job,
// deleted by the run after a success).
import { parseImageReference } from "../../copier";
import { dockerConfigJson, encodeBase64 } from "../kube";

export const PULL_SECRET_TYPE = "kubernetes.io/dockerconfigjson";

export interface PullSecretCredentials {
  /** Any image reference on the registry the Secret is for (targetImage). */
  image: string;
  username: string;
  password: string;
}

/** `.dockerconfigjson` (base64) with `auths[<host[:port]>]` = username, password and auth, as kubelet reads it. */
export function buildPullSecretData(target: PullSecretCredentials): Record<string, string> {
  const host = parseImageReference(target.image).registry;
  return { ".dockerconfigjson": encodeBase64(dockerConfigJson(host, target.username, target.password)) };
}
