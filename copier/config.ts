// The copier's inputs: repo JSON files (dest-repo.json, d8-repo.json), the image list (d8-images.json) and the
// directory holding them, each read with zod and refused with a one-line reason naming the file.

import { readFile } from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { checkCaPem } from "./transport/agent";
import { isDigest, isTag, parseImageReference } from "./reference";

export const repoConfigSchema = z.object({
  username: z.string().optional(),
  password: z.string().optional(),
  insecure: z
    .union([z.boolean(), z.enum(["true", "false"])])
    .optional()
    .transform((v) => v === true || v === "true"),
  image: z.string().min(1, "image is required"),
  ca: z.string().optional(),
});
export type RepoConfig = z.output<typeof repoConfigSchema>;

/** An image-list value as the error shows it: JSON (so white space and quotes are visible), at most 80 characters. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
const notATagOrDigest = (issue: { input?: unknown }) => `must be a tag or a sha256 digest, got ${shown(issue.input)}`;
const imageValueSchema = z.string({ error: notATagOrDigest }).refine((v) => isDigest(v) || isTag(v), { error: notATagOrDigest });
export const imagesListSchema = z.record(z.string().min(1), z.record(z.string().min(1), imageValueSchema));
export type ImagesList = z.output<typeof imagesListSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Every distinct value of the list (a value under several keys is copied once), in first-seen order. */
export function distinctImageValues(images: ImagesList): string[] {
  const seen = new Set<string>();
  for (const module of Object.values(images)) {
    for (const value of Object.values(module)) seen.add(value);
  }
  return [...seen];
}

/**
 * A digest naming the set of images a list asks for: sha256 over its distinct values, sorted, one per line.
 * Key names and order do not count, so the same release's list always gives the same digest.
 */
export function imagesListDigest(images: ImagesList): string {
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  const lines = distinctImageValues(images).sort().map((v) => `${v}\n`).join("");
  return `sha256:${createHash("sha256").update(lines).digest("hex")}`;
}

/** Validates a repo JSON object; `what` names it in errors (e.g. the file name). */
export function parseRepoConfig(value: unknown, what: string): RepoConfig {
  const parsed = repoConfigSchema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${what}: ${describe(parsed.error)}`);
  const config = parsed.data;
  try {
    parseImageReference(config.image);
  } catch (err) {
    throw new ConfigError(`${what}: ${(err as Error).message}`);
  }
  if (config.ca !== undefined && config.ca.trim() === "") delete config.ca;
  if (config.ca) {
    try {
      checkCaPem(config.ca, what);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  return config;
}

export function parseImagesList(value: unknown, what: string): ImagesList {
  const parsed = imagesListSchema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${what}: ${describe(parsed.error)}`);
  if (distinctImageValues(parsed.data).length === 0) throw new ConfigError(`${what}: the image list is empty`);
  return parsed.data;
}

export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${file}: ${code === "ENOENT" ? "file not found" : `cannot read (${code ?? (err as Error).message})`}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

export interface ConfigDir {
  source: RepoConfig;
  target: RepoConfig;
  images?: ImagesList;
}

/** Reads d8-repo.json, dest-repo.json and (when present, or required) d8-images.json from `dir`. */
export async function loadConfigDir(dir: string, opts: { requireImages?: boolean } = {}): Promise<ConfigDir> {
  const source = parseRepoConfig(await readJsonFile(path.join(dir, "d8-repo.json")), path.join(dir, "d8-repo.json"));
  const target = parseRepoConfig(await readJsonFile(path.join(dir, "dest-repo.json")), path.join(dir, "dest-repo.json"));
  const imagesFile = path.join(dir, "d8-images.json");
  let images: ImagesList | undefined;
  try {
    images = parseImagesList(await readJsonFile(imagesFile), imagesFile);
  } catch (err) {
    const missing = err instanceof ConfigError && err.message.endsWith("file not found");
    if (!missing || opts.requireImages) throw err;
  }
  return { source, target, images };
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length ? `${issue.path.map(String).join(".")}: ${issue.message}` : issue.message))
    .join("; ");
}
