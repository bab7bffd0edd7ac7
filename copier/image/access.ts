// Registry access for publish-image, from the same places the copy takes it: the target's credentials, `insecure`
// and CA from a config dir's dest-repo.json (only for that registry), or from flags with the password on stdin or in
// the environment (never on the command line), or from docker's config.json; the base's from docker's config.json.

import { readFile } from "node:fs/promises";
import * as path from "node:path";
import type { RegistryAccess } from "../check-images";
import { ConfigError, parseRepoConfig, readJsonFile } from "../config";
import { credentialsFor, readDockerConfig } from "../docker-config";
import { parseImageReference } from "../reference";
import { checkCaPem } from "../transport/agent";

export const USERNAME_ENV = "IMAGES_COPIER_TARGET_USERNAME";
export const PASSWORD_ENV = "IMAGES_COPIER_TARGET_PASSWORD";

const MAX_STDIN_BYTES = 64 * 1024;

export interface AccessFlags {
  configDir?: string;
  dockerConfig?: string;
  username?: string;
  passwordStdin?: boolean;
  ca?: string;
  insecure?: boolean;
  baseCa?: string;
}

export interface AccessSources {
  env: NodeJS.ProcessEnv;
  stdin?: NodeJS.ReadableStream;
}

/** Access to the target's registry (host[:port]); bad flags or files are ConfigErrors naming the flag or file. */
export async function targetAccess(flags: AccessFlags, registry: string, sources: AccessSources): Promise<RegistryAccess> {
  const access: RegistryAccess = { insecure: false };
  if (flags.configDir) {
    const file = path.join(flags.configDir, "dest-repo.json");
    const dest = parseRepoConfig(await readJsonFile(file), file);
    const destRegistry = parseImageReference(dest.image).registry;
    if (destRegistry !== registry) {
      throw new ConfigError(`${file} is for registry ${destRegistry}, not ${registry} (the target's); its credentials are not sent to another registry`);
    }
    Object.assign(access, { username: dest.username, password: dest.password, insecure: dest.insecure, ca: dest.ca });
  }
  if (flags.insecure) access.insecure = true;
  if (flags.ca) access.ca = await readCa(flags.ca, "--ca");

  const username = flags.username ?? sources.env[USERNAME_ENV];
  if (flags.passwordStdin && !username) throw new ConfigError(`--password-stdin needs --username NAME (or ${USERNAME_ENV})`);
  if (username) {
    const password = flags.passwordStdin ? await readPassword(sources.stdin) : sources.env[PASSWORD_ENV];
    if (!password) throw new ConfigError(`user "${username}" has no password: pipe it to --password-stdin, or set ${PASSWORD_ENV}`);
    Object.assign(access, { username, password });
  }
  if (!access.username && !access.password) Object.assign(access, await fromDockerConfig(flags.dockerConfig, registry));
  return access;
}

/** Access to a base image on another registry: docker's config.json credentials (else anonymous) and --base-ca. */
export async function baseAccess(flags: AccessFlags, registry: string): Promise<RegistryAccess> {
  const access: RegistryAccess = { insecure: false, ...(await fromDockerConfig(flags.dockerConfig, registry)) };
  if (flags.baseCa) access.ca = await readCa(flags.baseCa, "--base-ca");
  return access;
}

async function fromDockerConfig(file: string | undefined, registry: string): Promise<{ username?: string; password?: string }> {
  const config = await readDockerConfig(file).catch((err: Error) => {
    throw new ConfigError(err.message);
  });
  return (config && credentialsFor(config, registry)) || {};
}

async function readCa(file: string, flag: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${flag} ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    checkCaPem(pem, `${flag} ${file}`);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return pem;
}

/** The password piped to stdin, without the line end `echo` or a here-string adds. */
async function readPassword(stdin: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stdin) throw new ConfigError("--password-stdin: no standard input");
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    total += buffer.length;
    if (total > MAX_STDIN_BYTES) throw new ConfigError(`--password-stdin: more than ${MAX_STDIN_BYTES} bytes on standard input`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}
