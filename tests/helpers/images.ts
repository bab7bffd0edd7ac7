// Pushes test images over plain HTTP (independent of copier/): random layers generated as a stream from a seed,
// Docker v2 schema2 and OCI manifests, manifest lists and OCI indexes, by tag or by digest only, and a
// Deckhouse-like release in one repository (seedRelease).
import { createCipheriv, createHash } from "node:crypto";
import { Readable } from "node:stream";
import { FixtureClient, expectStatus, responseHeader } from "./registry-http";
import type { TestRegistry } from "./registry";

export const MEDIA = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export type ImageFormat = "docker" | "oci";

/** Random bytes of `size`, the same for the same seed: equal specs are the same blob (a shared layer). */
export interface LayerSpec {
  size: number;
  seed: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  size: number;
  digest: string;
  platform?: Platform;
}

export interface PushedManifest extends Descriptor {
  bytes: Buffer;
  /** Digests of the config and layer blobs (single-platform) or of all children's blobs (index). */
  blobs: string[];
  children?: PushedManifest[];
}

const CHUNK = 1 << 20;

export function layerChunks(spec: LayerSpec): Generator<Buffer> {
  return (function* () {
    const key = createHash("sha256").update(`layer:${spec.seed}`).digest();
    const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
    const zeros = Buffer.alloc(CHUNK);
    for (let left = spec.size; left > 0; left -= CHUNK) {
      yield cipher.update(zeros.subarray(0, Math.min(CHUNK, left)));
    }
  })();
}

export function layerDigest(spec: LayerSpec): string {
  const hash = createHash("sha256");
  for (const chunk of layerChunks(spec)) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

const clients = new WeakMap<TestRegistry, FixtureClient>();
export function fixtureClient(reg: TestRegistry): FixtureClient {
  let client = clients.get(reg);
  if (!client) {
    client = new FixtureClient(reg);
    clients.set(reg, client);
  }
  return client;
}

async function blobExists(client: FixtureClient, repository: string, digest: string): Promise<boolean> {
  const res = await client.send("HEAD", repository, `/v2/${repository}/blobs/${digest}`);
  return res.status === 200;
}

/** POST then PUT ?digest= with the body streamed; skips blobs already present. */
export async function pushBlob(
  reg: TestRegistry,
  repository: string,
  content: Buffer | LayerSpec,
): Promise<{ digest: string; size: number }> {
  const client = fixtureClient(reg);
  const isBuffer = Buffer.isBuffer(content);
  const digest = isBuffer ? sha256(content) : layerDigest(content);
  const size = isBuffer ? content.length : content.size;
  if (await blobExists(client, repository, digest)) return { digest, size };

  const start = await client.send("POST", repository, `/v2/${repository}/blobs/uploads/`);
  expectStatus(start, [202], `start upload to ${repository}`);
  const location = new URL(responseHeader(start.headers, "location") ?? "", reg.url);
  location.searchParams.set("digest", digest);
  await client.warmUp(repository);
  const body = isBuffer ? content : Readable.from(layerChunks(content));
  const put = await client.send("PUT", repository, location.toString(), {
    headers: { "content-type": "application/octet-stream", "content-length": String(size) },
    body,
    replayable: isBuffer,
  });
  expectStatus(put, [201], `upload blob ${digest} to ${repository}`);
  return { digest, size };
}

/** PUT a manifest under a tag, or under its own digest when `tag` is undefined. */
export async function pushManifestBytes(
  reg: TestRegistry,
  repository: string,
  bytes: Buffer,
  mediaType: string,
  tag?: string,
): Promise<string> {
  const digest = sha256(bytes);
  const res = await fixtureClient(reg).send("PUT", repository, `/v2/${repository}/manifests/${tag ?? digest}`, {
    headers: { "content-type": mediaType },
    body: bytes,
  });
  expectStatus(res, [201], `push manifest ${repository}:${tag ?? digest}`);
  return digest;
}

export interface ImageSpec {
  format: ImageFormat;
  layers: LayerSpec[];
  /** Makes the config blob (and so the manifest) unique. */
  seed: string;
  platform?: Platform;
  /** More fields of the image config (e.g. `config`, `history`), over the generated ones. */
  config?: Record<string, unknown>;
}

export async function pushImage(reg: TestRegistry, repository: string, spec: ImageSpec, tag?: string): Promise<PushedManifest> {
  const docker = spec.format === "docker";
  const platform = spec.platform ?? { os: "linux", architecture: "amd64" };
  const layers: Descriptor[] = [];
  for (const layer of spec.layers) {
    const { digest, size } = await pushBlob(reg, repository, layer);
    layers.push({ mediaType: docker ? MEDIA.dockerLayer : MEDIA.ociLayer, size, digest });
  }
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created: "2023-04-01T00:00:00Z",
      config: { Labels: { "test.seed": spec.seed } },
      ...spec.config,
      rootfs: { type: "layers", diff_ids: spec.layers.map((l) => sha256(`diff:${l.seed}:${l.size}`)) },
    }),
  );
  const config = await pushBlob(reg, repository, configBytes);
  const mediaType = docker ? MEDIA.dockerManifest : MEDIA.ociManifest;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: docker ? MEDIA.dockerConfig : MEDIA.ociConfig, size: config.size, digest: config.digest },
    layers,
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = await pushManifestBytes(reg, repository, bytes, mediaType, tag);
  return { mediaType, size: bytes.length, digest, bytes, platform, blobs: [config.digest, ...layers.map((l) => l.digest)] };
}

/** A manifest list (docker) or image index (oci) over children already pushed to the same repository. */
export async function pushIndex(
  reg: TestRegistry,
  repository: string,
  format: ImageFormat,
  children: PushedManifest[],
  tag?: string,
): Promise<PushedManifest> {
  const mediaType = format === "docker" ? MEDIA.dockerList : MEDIA.ociIndex;
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: children.map((c) => ({ mediaType: c.mediaType, size: c.size, digest: c.digest, platform: c.platform })),
  };
  const bytes = Buffer.from(JSON.stringify(index, null, 3));
  const digest = await pushManifestBytes(reg, repository, bytes, mediaType, tag);
  return { mediaType, size: bytes.length, digest, bytes, children, blobs: children.flatMap((c) => c.blobs) };
}

/** A multi-arch image: one child per platform (pushed by digest), then the index. */
export async function pushMultiArch(
  reg: TestRegistry,
  repository: string,
  opts: { format: ImageFormat; seed: string; layers: LayerSpec[]; platforms?: Platform[]; tag?: string; config?: Record<string, unknown> },
): Promise<PushedManifest> {
  const platforms = opts.platforms ?? [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm64", variant: "v8" },
  ];
  const children: PushedManifest[] = [];
  for (const platform of platforms) {
    const arch = `${platform.architecture}${platform.variant ?? ""}`;
    children.push(
      await pushImage(reg, repository, {
        format: opts.format,
        seed: `${opts.seed}:${arch}`,
        platform,
        layers: [...opts.layers, { size: 4096, seed: `${opts.seed}:${arch}:own` }],
        config: opts.config,
      }),
    );
  }
  return pushIndex(reg, repository, opts.format, children, opts.tag);
}

/** `56 hex - 13 digit epoch ms`, the shape of werf's content tags. */
export function werfTag(seed: string, index: number): string {
  return `${createHash("sha256").update(`werf:${seed}:${index}`).digest("hex").slice(0, 56)}-${1650502544870 + index}`;
}

export type SeededKind = "docker" | "oci" | "docker-list" | "oci-index";

export interface SeededEntry {
  /** The images_tags.json value: a werf tag or `sha256:…`. */
  value: string;
  /** Full source reference: `host/repo:tag` or `host/repo@sha256:…`. */
  reference: string;
  digest: string;
  mediaType: string;
  kind: SeededKind;
  /** Child manifest digests of an index. */
  children?: string[];
  blobs: string[];
}

export interface SeededRelease {
  /** `host/repo:v1.46.3` */
  deckhouseImage: string;
  deckhouseDigest: string;
  /** images_tags.json shape: two levels, one value under two keys. */
  images: Record<string, Record<string, string>>;
  /** Every distinct module image reference plus the deckhouse image. */
  references: string[];
  /** Module entries (distinct values), not the deckhouse image. */
  entries: SeededEntry[];
}

export interface SeedOptions {
  deckhouseTag?: string;
  /** Single-platform module images addressed by werf tag. */
  tagged?: number;
  /** Single-platform module images addressed only by digest. */
  digestOnly?: number;
  /** 1: a tagged docker manifest list; 2: plus a digest-only OCI index. */
  multiArch?: 0 | 1 | 2;
  layerSize?: number;
  baseLayerSize?: number;
  seed?: string;
}

const MODULES = ["common", "nodeManager", "cloudProviderOpenstack", "ingressNginx", "prometheus", "istio", "userAuthn"];

function imageKey(i: number): string {
  const names = ["kubeRbacProxy", "bashibleApiserver", "controller", "webhook", "alertmanager", "grafana", "dex", "pilot"];
  return `${names[i % names.length]}${i >= names.length ? Math.floor(i / names.length) : ""}`;
}

export async function seedRelease(reg: TestRegistry, repository: string, opts: SeedOptions = {}): Promise<SeededRelease> {
  const seed = opts.seed ?? "release";
  const tagged = opts.tagged ?? 4;
  const digestOnly = opts.digestOnly ?? 2;
  const multiArch = opts.multiArch ?? 2;
  const layerSize = opts.layerSize ?? 32 * 1024;
  const base: LayerSpec[] = [
    { size: opts.baseLayerSize ?? 128 * 1024, seed: `${seed}:base` },
    { size: 8 * 1024, seed: `${seed}:base-tools` },
  ];
  const own = (name: string): LayerSpec => ({ size: layerSize, seed: `${seed}:${name}` });
  const at = (tagOrDigest: string) =>
    tagOrDigest.startsWith("sha256:") ? `${reg.host}/${repository}@${tagOrDigest}` : `${reg.host}/${repository}:${tagOrDigest}`;
  const entries: SeededEntry[] = [];
  const single = (value: string, m: PushedManifest, kind: SeededKind): SeededEntry => ({
    value,
    reference: at(value),
    digest: m.digest,
    mediaType: m.mediaType,
    kind,
    blobs: m.blobs,
    children: m.children?.map((c) => c.digest),
  });

  for (let i = 0; i < tagged; i++) {
    const format: ImageFormat = i % 2 === 0 ? "docker" : "oci";
    const tag = werfTag(seed, i);
    const m = await pushImage(reg, repository, { format, seed: `${seed}:tagged:${i}`, layers: [...base, own(`tagged:${i}`)] }, tag);
    entries.push(single(tag, m, format));
  }
  for (let i = 0; i < digestOnly; i++) {
    const format: ImageFormat = i % 2 === 0 ? "oci" : "docker";
    const m = await pushImage(reg, repository, { format, seed: `${seed}:digest:${i}`, layers: [base[0], own(`digest:${i}`)] });
    entries.push(single(m.digest, m, format));
  }
  if (multiArch >= 1) {
    const tag = werfTag(seed, 1000);
    const m = await pushMultiArch(reg, repository, { format: "docker", seed: `${seed}:list`, layers: [base[0]], tag });
    entries.push(single(tag, m, "docker-list"));
  }
  if (multiArch >= 2) {
    const m = await pushMultiArch(reg, repository, { format: "oci", seed: `${seed}:index`, layers: [base[1]] });
    entries.push(single(m.digest, m, "oci-index"));
  }

  const deckhouseTag = opts.deckhouseTag ?? "v1.46.3";
  const deckhouse = await pushImage(
    reg,
    repository,
    { format: "docker", seed: `${seed}:deckhouse`, layers: [...base, own("deckhouse")] },
    deckhouseTag,
  );

  const images: Record<string, Record<string, string>> = {};
  entries.forEach((entry, i) => {
    const module = MODULES[i % MODULES.length];
    (images[module] ??= {})[imageKey(i)] = entry.value;
  });
  if (entries.length > 0) {
    // The same value under a second key in another module: it must be copied once.
    (images.registrypackages ??= {}).sharedAlias = entries[0].value;
  }

  return {
    deckhouseImage: at(deckhouseTag),
    deckhouseDigest: deckhouse.digest,
    images,
    references: [...entries.map((e) => e.reference), at(deckhouseTag)],
    entries,
  };
}
