// Deleting what one knows by uid: the object at that path only if it is still the one with this uid (a DeleteOptions
// precondition), so a newer object of the same name stays. Gone already (404) or replaced (409): nothing to do.
import { isKubeStatus, type KubeClient } from "./client";

export async function deleteOwn(kube: KubeClient, path: string, uid: string | undefined, query?: Record<string, string>): Promise<void> {
  try {
    await kube.delete(path, query, uid ? { preconditions: { uid } } : undefined);
  } catch (error) {
    if (!isKubeStatus(error, 409)) throw error;
  }
}
