// The cluster's current registry access, from `d8-system/deckhouse-registry` and the `deckhouse` Deployment:
// the source repository config (`d8-repo.json`) the copier reads. Validated with zod; nothing is logged.
import { z } from "zod";
import { decodeAuth, InvalidReferenceError, parseImageReference } from "../../copier";

export interface RepoConfigJson {
  username?: string;
  password?: string;
  insecure: boolean;
  image: string;
  ca?: string;
}

const authEntrySchema = z.object({
  username: z.string().optional(),
  password: z.string().optional(),
  auth: z.string().optional(),
});
const dockerConfigSchema = z.object({ auths: z.record(z.string(), authEntrySchema) });

export class ClusterStateError extends Error {
  override name = "ClusterStateError";
}

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const value = data?.[key];
  return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
}

/** `username`/`password`, or base64 `auth` split on the FIRST colon (a password may contain `:`). */
export function credentialsFromAuthEntry(entry: z.infer<typeof authEntrySchema>): { username?: string; password?: string } {
  if (entry.username !== undefined || entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (entry.auth === undefined || entry.auth === "") return {};
  const decoded = decodeAuth(entry.auth);
  if (!decoded) throw new ClusterStateError("d8-system/deckhouse-registry: the `auth` of the registry entry is not base64 of user:password");
  return decoded;
}

function stripScheme(address: string): string {
  return address.replace(/^https?:\/\//, "").replace(/\/+$/, "");
}

/** The deckhouse container of the Deployment's spec: the one named `deckhouse`, else the first. */
export function deckhouseContainerOf<C extends { name?: string }>(spec: { template?: { spec?: { containers?: C[] } } } | undefined): C | undefined {
  const containers = spec?.template?.spec?.containers ?? [];
  return containers.find((c) => c.name === "deckhouse") ?? containers[0];
}

/** The deckhouse container's image in the Deployment. */
export function deckhouseImageOf(deployment: { spec?: { template?: { spec?: { containers?: Array<{ name?: string; image?: string }> } } } }): string {
  const container = deckhouseContainerOf(deployment.spec);
  if (!container?.image) throw new ClusterStateError("d8-system/deckhouse: the Deployment has no deckhouse container image");
  try {
    parseImageReference(container.image);
  } catch (error) {
    if (error instanceof InvalidReferenceError) throw new ClusterStateError(`d8-system/deckhouse: ${error.message}`);
    throw error;
  }
  return container.image;
}

/** Builds d8-repo.json from the registry Secret's (base64) data and the current Deckhouse image. */
export function sourceRepoConfig(secretData: Record<string, string> | undefined, deckhouseImage: string): RepoConfigJson {
  const raw = decode(secretData, ".dockerconfigjson");
  if (raw === undefined) throw new ClusterStateError("d8-system/deckhouse-registry has no .dockerconfigjson");
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ClusterStateError("d8-system/deckhouse-registry: .dockerconfigjson is not JSON");
  }
  const parsed = dockerConfigSchema.safeParse(json);
  if (!parsed.success) throw new ClusterStateError("d8-system/deckhouse-registry: .dockerconfigjson has no valid `auths` object");
  const imageRegistry = parseImageReference(deckhouseImage).registry;
  const address = stripScheme(decode(secretData, "address") ?? imageRegistry);
  const auths = parsed.data.auths;
  const key = Object.keys(auths).find((k) => stripScheme(k) === address) ?? Object.keys(auths).find((k) => stripScheme(k) === imageRegistry);
  const credentials = key === undefined ? {} : credentialsFromAuthEntry(auths[key]);
  const ca = decode(secretData, "ca");
  return {
    ...(credentials.username !== undefined ? { username: credentials.username } : {}),
    ...(credentials.password !== undefined ? { password: credentials.password } : {}),
    insecure: decode(secretData, "scheme") === "http",
    image: deckhouseImage,
    ...(ca ? { ca } : {}),
  };
}
