// Credentials from a docker `config.json` (`auths[host]`: username/password, or base64 `auth` = user:password
// split on the FIRST colon, since passwords may contain colons). Used on a workstation when a repo JSON has none.

import { readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as z from "zod";

const authEntrySchema = z
  .object({ username: z.string().optional(), password: z.string().optional(), auth: z.string().optional() })
  .loose();
export const dockerConfigSchema = z.object({ auths: z.record(z.string(), authEntrySchema).optional() }).loose();

export interface DockerCredentials {
  username: string;
  password: string;
}

/** Decodes base64 `user:password`; the password keeps every later colon. */
export function decodeAuth(auth: string): DockerCredentials | undefined {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function normalizeHost(key: string): string {
  let host = key.replace(/^[a-z]+:\/\//i, "");
  host = host.split("/")[0];
  if (host === "index.docker.io" || host === "registry-1.docker.io") host = "docker.io";
  return host.toLowerCase();
}

/** The credentials for `registry` (host[:port]) in a parsed config.json, if any. */
export function credentialsFor(config: unknown, registry: string): DockerCredentials | undefined {
  const parsed = dockerConfigSchema.safeParse(config);
  if (!parsed.success || !parsed.data.auths) return undefined;
  const wanted = normalizeHost(registry);
  for (const [key, entry] of Object.entries(parsed.data.auths)) {
    if (normalizeHost(key) !== wanted) continue;
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
    if (entry.auth) return decodeAuth(entry.auth);
  }
  return undefined;
}

/** Reads `file`, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json; undefined when there is none. */
export async function readDockerConfig(file?: string): Promise<unknown> {
  const candidate = file ?? path.join(process.env.DOCKER_CONFIG ?? path.join(os.homedir(), ".docker"), "config.json");
  let text: string;
  try {
    text = await readFile(candidate, "utf8");
  } catch (err) {
    if (file) throw new Error(`${file}: cannot read docker config (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${candidate}: docker config is not valid JSON`);
  }
}
