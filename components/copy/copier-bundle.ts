// The bundled copier (dist/images-copier.cjs, one CommonJS file) that the Job runs from a ConfigMap.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** ConfigMaps hold at most 1 MiB; keep room for metadata. */
export const CONFIG_MAP_LIMIT_BYTES = 1_000_000;

/** `IMAGES_COPIER_BUNDLE` may point at another build of the bundle (e.g. one made outside this checkout). */
export function loadCopierBundle(root = resolve(__dirname, "..", ".."), override = process.env.IMAGES_COPIER_BUNDLE): string {
  const file = override || join(root, "dist", "images-copier.cjs");
  if (!existsSync(file)) {
    if (override) throw new Error(`IMAGES_COPIER_BUNDLE=${override} does not exist`);
    const bundler = join(root, "scripts", "bundle.js");
    if (!existsSync(bundler)) throw new Error(`the copier bundle ${file} is missing; run \`node scripts/bundle.js\` (or set copierBundled with an image built from the Dockerfile)`);
    (require(bundler) as { bundleCopier(): string }).bundleCopier();
  }
  const text = readFileSync(file, "utf8");
  const size = Buffer.byteLength(text);
  if (size > CONFIG_MAP_LIMIT_BYTES) {
    throw new Error(`the copier bundle is ${size} bytes, more than a ConfigMap holds (${CONFIG_MAP_LIMIT_BYTES}); build the Dockerfile's image and set copierBundled to true`);
  }
  return text;
}
