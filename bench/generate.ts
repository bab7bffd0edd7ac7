/**
 * Generates a Deckhouse-like release in a plain local registry: every image in ONE repository told apart by werf
 * tags, base layers shared from a small pool, a few multi-arch indexes (OCI index and Docker manifest list), a
 * Deckhouse image under a version tag, and an images_tags.json for it. Sizes scale with `scale`.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { BenchPusher, type Pushed } from "./push";

export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
const MiB = 1 << 20;

export interface GenerateOptions {
  origin: string;
  repo: string;
  deckhouseTag: string;
  images: number;
  multiArch: number;
  /** unique layer bytes to aim for, base pool included */
  uniqueBytes: number;
  imagesTagsFile: string;
  concurrency?: number;
  log?: (line: string) => void;
}

export interface GeneratedRelease {
  repo: string;
  deckhouseTag: string;
  imagesTags: Record<string, Record<string, string>>;
  /** distinct tags in the repository, the Deckhouse tag included */
  tags: string[];
  uniqueLayerBytes: number;
  layers: number;
}

/** Deterministic PRNG (mulberry32) so every run generates the same shape. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODULE_NAMES = [
  "common", "nodeManager", "cniCilium", "controlPlaneManager", "ingressNginx", "prometheus", "istio", "userAuthn",
  "cloudProviderOpenstack", "certManager", "monitoringKubernetes", "logShipper", "kubeDns", "upmeter", "registrypackages",
  "nodeLocalDns", "linstor", "descheduler", "dashboard", "openvpn", "flantIntegration", "vpa", "operatorTrivy", "terraformManager",
];

function werfTag(rand: () => number, i: number): string {
  const hex = createHash("sha256").update(`bench-image-${i}-${rand()}`).digest("hex").slice(0, 56);
  return `${hex}-${1650502544870 + i * 1000}`;
}

/** Runs tasks with at most `limit` in flight. */
async function inPool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

interface ImagePlan {
  tag: string;
  bases: number[];
  /** per platform: unique layer sizes */
  platforms: Array<{ arch: string; sizes: number[] }>;
  oci: boolean;
}

export async function generateRelease(opts: GenerateOptions): Promise<GeneratedRelease> {
  const rand = prng(20261124);
  const log = opts.log ?? (() => undefined);
  const pusher = new BenchPusher(opts.origin);
  try {
    const basePool = [40, 25, 12, 6, 3].map((mb) => Math.max(1024, Math.round((mb * MiB * opts.uniqueBytes) / (1100 * MiB))));
    const baseTotal = basePool.reduce((a, b) => a + b, 0);

    // plan every image's unique layer sizes, then scale them so the whole set reaches uniqueBytes
    const plans: ImagePlan[] = [];
    const count = opts.images + 1; // + the Deckhouse image
    for (let i = 0; i < count; i++) {
      const multi = i > 0 && i <= opts.multiArch;
      const arches = multi ? ["amd64", "arm64"] : ["amd64"];
      const platforms = arches.map((arch) => {
        const n = 1 + Math.floor(rand() * 3);
        const sizes = Array.from({ length: n }, () => (rand() < 0.12 ? 20 + rand() * 40 : 0.2 + rand() * 8));
        return { arch, sizes };
      });
      const bases = [0, 1 + Math.floor(rand() * (basePool.length - 1))];
      plans.push({ tag: i === 0 ? opts.deckhouseTag : werfTag(rand, i), bases, platforms, oci: i % 3 === 0 });
    }
    const rawTotal = plans.flatMap((p) => p.platforms.flatMap((q) => q.sizes)).reduce((a, b) => a + b, 0);
    const factor = Math.max(0, opts.uniqueBytes - baseTotal) / rawTotal;
    for (const p of plans) for (const q of p.platforms) q.sizes = q.sizes.map((s) => Math.max(512, Math.round(s * factor)));

    log(`generating ${count} images (${opts.multiArch} multi-arch) with ${(opts.uniqueBytes / MiB).toFixed(0)} MiB of unique layers`);
    const started = Date.now();
    const bases = await inPool(basePool, opts.concurrency ?? 4, (size) => pusher.pushRandomBlob(opts.repo, size));

    let layers = bases.length;
    let uniqueLayerBytes = baseTotal;
    let done = 0;
    await inPool(plans, opts.concurrency ?? 4, async (plan) => {
      const children: Array<{ arch: string; manifest: Pushed; mediaType: string }> = [];
      for (const platform of plan.platforms) {
        const own: Pushed[] = [];
        for (const size of platform.sizes) own.push(await pusher.pushRandomBlob(opts.repo, size));
        layers += own.length;
        uniqueLayerBytes += own.reduce((a, l) => a + l.size, 0);
        const layerList = [...plan.bases.map((b) => bases[b]), ...own];
        const config = Buffer.from(
          JSON.stringify({
            architecture: platform.arch,
            os: "linux",
            config: { Labels: { "bench.tag": plan.tag } },
            rootfs: { type: "layers", diff_ids: layerList.map((l) => l.digest) },
          }),
        );
        const configBlob = await pusher.pushBytes(opts.repo, config);
        const manifest = {
          schemaVersion: 2,
          mediaType: plan.oci ? OCI_MANIFEST : DOCKER_MANIFEST,
          config: {
            mediaType: plan.oci ? "application/vnd.oci.image.config.v1+json" : "application/vnd.docker.container.image.v1+json",
            size: configBlob.size,
            digest: configBlob.digest,
          },
          layers: layerList.map((l) => ({ mediaType: plan.oci ? OCI_LAYER : DOCKER_LAYER, size: l.size, digest: l.digest })),
        };
        const bytes = Buffer.from(JSON.stringify(manifest, null, 2));
        const single = plan.platforms.length === 1;
        const pushed = await pusher.putManifest(opts.repo, single ? plan.tag : `sha256:${createHash("sha256").update(bytes).digest("hex")}`, manifest.mediaType, bytes);
        children.push({ arch: platform.arch, manifest: pushed, mediaType: manifest.mediaType });
      }
      if (children.length > 1) {
        const mediaType = plan.oci ? OCI_INDEX : DOCKER_LIST;
        const index = {
          schemaVersion: 2,
          mediaType,
          manifests: children.map((c) => ({ mediaType: c.mediaType, size: c.manifest.size, digest: c.manifest.digest, platform: { architecture: c.arch, os: "linux" } })),
        };
        await pusher.putManifest(opts.repo, plan.tag, mediaType, Buffer.from(JSON.stringify(index, null, 2)));
      }
      if (++done % 20 === 0) log(`  ${done}/${count} images pushed`);
    });

    // images_tags.json: modules x images, one value listed under two keys as Deckhouse sometimes does
    const imagesTags: Record<string, Record<string, string>> = {};
    plans.slice(1).forEach((plan, i) => {
      const module = MODULE_NAMES[i % MODULE_NAMES.length] + (i >= MODULE_NAMES.length * 4 ? `V${Math.floor(i / MODULE_NAMES.length)}` : "");
      imagesTags[module] ??= {};
      imagesTags[module][`image${i}`] = plan.tag;
    });
    imagesTags.common.kubeRbacProxyAlias = plans[1].tag;
    writeFileSync(opts.imagesTagsFile, JSON.stringify(imagesTags, null, 2));
    log(`generated ${layers} layers, ${(uniqueLayerBytes / MiB).toFixed(0)} MiB unique, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { repo: opts.repo, deckhouseTag: opts.deckhouseTag, imagesTags, tags: plans.map((p) => p.tag), uniqueLayerBytes, layers };
  } finally {
    await pusher.close();
  }
}

/** A repository holding one single-layer image of `layerBytes` under `tag`, for the memory check. */
export async function generateSingleLayerImage(origin: string, repo: string, tag: string, layerBytes: number): Promise<void> {
  const pusher = new BenchPusher(origin);
  try {
    const layer = await pusher.pushRandomBlob(repo, layerBytes);
    const config = await pusher.pushBytes(repo, Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.digest] } })));
    const manifest = {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.size, digest: config.digest },
      layers: [{ mediaType: DOCKER_LAYER, size: layer.size, digest: layer.digest }],
    };
    await pusher.putManifest(repo, tag, DOCKER_MANIFEST, Buffer.from(JSON.stringify(manifest)));
  } finally {
    await pusher.close();
  }
}
