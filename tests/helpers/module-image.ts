// Deckhouse-like module images for tests (independent of copier/): layers that are real gzip'd tars (so a reader
// must unpack them), the module's images_digests.json at the root of the top layer, its release image, and
// operator-trivy's database artifacts.
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { MEDIA, pushBlob, pushManifestBytes, type PushedManifest } from "./images";
import type { TestRegistry } from "./registry";

/** A tar of `files` (path → content), gzip'd. */
export async function tarGz(files: Record<string, string | Buffer>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on("end", resolve);
    p.on("error", reject);
  });
  for (const [name, content] of Object.entries(files)) {
    p.entry({ name, mode: 0o644, mtime: new Date(0) }, typeof content === "string" ? Buffer.from(content) : content);
  }
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** An OCI image whose layers are the given gzip'd tars, under `tag` (or by digest when none). */
export async function pushTarImage(
  reg: TestRegistry,
  repository: string,
  layers: Array<Record<string, string | Buffer>>,
  opts: { tag?: string; seed: string; configMediaType?: string; layerMediaType?: string },
): Promise<PushedManifest> {
  const descriptors = [];
  for (const files of layers) {
    const { digest, size } = await pushBlob(reg, repository, await tarGz(files));
    descriptors.push({ mediaType: opts.layerMediaType ?? MEDIA.ociLayer, size, digest });
  }
  const config = await pushBlob(reg, repository, Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Labels: { seed: opts.seed } }, rootfs: { type: "layers", diff_ids: [] } })));
  const manifest = { schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: opts.configMediaType ?? MEDIA.ociConfig, ...config }, layers: descriptors };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = await pushManifestBytes(reg, repository, bytes, MEDIA.ociManifest, opts.tag);
  return { mediaType: MEDIA.ociManifest, size: bytes.length, digest, bytes, blobs: [config.digest, ...descriptors.map((d) => d.digest)] };
}

/** A module image `<repo>/modules/<name>:<version>`: a files layer, then a layer with `list` (if any) as images_digests.json. */
export function pushModuleImage(reg: TestRegistry, modulesRepo: string, name: string, version: string, list: unknown | undefined): Promise<PushedManifest> {
  const layers: Array<Record<string, string>> = [{ "openapi/config-values.yaml": `type: object\n# ${name}\n`, "templates/deployment.yaml": `# ${name} ${version}\n` }];
  layers.push(list === undefined ? { "version.json": JSON.stringify({ version }) } : { "images_digests.json": JSON.stringify(list) });
  return pushTarImage(reg, `${modulesRepo}/${name}`, layers, { tag: version, seed: `module:${name}:${version}` });
}

/** `<repo>/modules/<name>/release:<channel>` with version.json, as Deckhouse reads it. */
export function pushModuleRelease(reg: TestRegistry, modulesRepo: string, name: string, version: string, channel: string): Promise<PushedManifest> {
  return pushTarImage(reg, `${modulesRepo}/${name}/release`, [{ "version.json": JSON.stringify({ version }), "changelog.yaml": "features: []\n" }], {
    tag: channel,
    seed: `release:${name}:${channel}`,
  });
}

/** A trivy database artifact as oras pushes it: its own config and layer media types. */
export function pushTrivyDatabase(reg: TestRegistry, repository: string, tag: string): Promise<PushedManifest> {
  return pushTarImage(reg, repository, [{ "db/metadata.json": JSON.stringify({ repository, tag }) }], {
    tag,
    seed: `trivy:${repository}`,
    configMediaType: "application/vnd.aquasec.trivy.config.v1+json",
    layerMediaType: "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
  });
}
