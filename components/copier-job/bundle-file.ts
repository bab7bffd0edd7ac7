// The bundled copier (dist/images-copier.cjs, one CommonJS file) that the Job runs from a ConfigMap. The program
// passes only its path, digest and size on: the text itself never enters Pulumi's inputs, preview or diff.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** ConfigMaps hold at most 1 MiB; keep room for metadata. */
export const CONFIG_MAP_LIMIT_BYTES = 1_000_000;

export interface CopierBundleFile {
  /** Absolute path of the bundle on the machine that runs `pulumi`. */
  path: string;
  /** sha256 of the file, hex. */
  sha256: string;
  bytes: number;
}

/** `IMAGES_COPIER_BUNDLE` may point at another build of the bundle (e.g. one made outside this checkout). */
export function copierBundlePath(root = resolve(__dirname, "..", ".."), override = process.env.IMAGES_COPIER_BUNDLE): string {
  const file = override || join(root, "dist", "images-copier.cjs");
  if (!existsSync(file)) {
    if (override) throw new Error(`IMAGES_COPIER_BUNDLE=${override} does not exist`);
    const bundler = join(root, "scripts", "bundle.js");
    if (!existsSync(bundler)) throw new Error(`the copier bundle ${file} is missing; run \`node scripts/bundle.js\` (or set copierBundled with an image built from the Dockerfile)`);
    (require(bundler) as { bundleCopier(): string }).bundleCopier();
  }
  return resolve(file);
}

/** The bundle's path, digest and size, checked to fit a ConfigMap. */
export function copierBundleFile(path = copierBundlePath()): CopierBundleFile {
  const content = readFileSync(path);
  if (content.length > CONFIG_MAP_LIMIT_BYTES) {
    throw new Error(`the copier bundle is ${content.length} bytes, more than a ConfigMap holds (${CONFIG_MAP_LIMIT_BYTES}); build the Dockerfile's image and set copierBundled to true`);
  }
  return { path, sha256: createHash("sha256").update(content).digest("hex"), bytes: content.length };
}

/** The bundle's text (tests run it as the Job would). */
export function loadCopierBundle(root?: string, override?: string): string {
  return readFileSync(copierBundleFile(copierBundlePath(root, override)).path, "utf8");
}
