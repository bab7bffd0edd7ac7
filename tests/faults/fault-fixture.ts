// Shared set-up of the fault tests: a seeded plain source and a fresh TLS target, each behind a fault proxy,
// the copier's repo configs pointing at the proxies, and a byte-for-byte check of every blob in the target.
import { createHash } from "node:crypto";
import { testCerts } from "../helpers/certs";
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from "../helpers/fault-proxy";
import { startRegistry, type RegistryOptions, type TestRegistry } from "../helpers/registry";
import { removeDir, tempDir } from "../helpers/copy-fixture";
import { fixtureClient, MEDIA, seedRelease, type Descriptor, type SeededRelease, type SeedOptions } from "../helpers/images";

export const REPO = "deckhouse/ee";
export const DECKHOUSE_TAG = "v1.46.3";

export interface ProxiedRegistry {
  reg: TestRegistry;
  proxy: FaultProxy;
  /** dest-repo.json / d8-repo.json for `repo:tag` in this registry, reached through the proxy */
  repoConfig(image: string): { username: string; password: string; insecure: boolean; image: string; ca?: string };
  stop(): Promise<void>;
}

export type ProxyOptions = Pick<FaultProxyOptions, "enforceTokenExpiry" | "maxBodyBytes">;

export async function proxied(reg: TestRegistry, opts: ProxyOptions = {}): Promise<ProxiedRegistry> {
  const certs = await testCerts();
  const proxy = await startFaultProxy({
    upstream: { host: reg.host, scheme: reg.scheme, caPem: reg.caPem },
    tls: reg.scheme === "https" ? { key: certs.keyPem, cert: certs.certPem } : undefined,
    ...opts,
  });
  return {
    reg,
    proxy,
    repoConfig: (image) => ({ ...reg.repoConfig(image), image: `${proxy.host}/${image}` }),
    stop: async () => {
      await proxy.stop();
      await reg.stop();
    },
  };
}

export async function proxiedRegistry(opts: RegistryOptions, proxyOpts: ProxyOptions = {}): Promise<ProxiedRegistry> {
  const reg = await startRegistry(opts);
  try {
    return await proxied(reg, proxyOpts);
  } catch (error) {
    await reg.stop();
    throw error;
  }
}

/** Blobs of the module images (config and layers, index children's too), each once. */
export function releaseBlobs(release: SeededRelease): string[] {
  return [...new Set(release.entries.flatMap((e) => e.blobs))];
}

/** A layer that belongs to exactly one image of the release, with that image's entry. */
export function uniqueLayerOf(release: SeededRelease, kind: "docker" | "oci" = "docker"): { digest: string; value: string } {
  const uses = new Map<string, number>();
  for (const e of release.entries) for (const b of new Set(e.blobs)) uses.set(b, (uses.get(b) ?? 0) + 1);
  const entry = release.entries.find((e) => e.kind === kind && e.blobs.some((b, i) => i > 0 && uses.get(b) === 1));
  if (!entry) throw new Error("release has no image with a layer of its own");
  const digest = entry.blobs.find((b, i) => i > 0 && uses.get(b) === 1) as string;
  return { digest, value: entry.value };
}

/** Digests of the given blobs whose bytes in `repo` of the registry are absent or hash to something else. */
export async function blobsNotMatching(reg: TestRegistry, repo: string, digests: string[]): Promise<string[]> {
  const client = fixtureClient(reg);
  const bad: string[] = [];
  for (const digest of digests) {
    const res = await client.send("GET", repo, `/v2/${repo}/blobs/${digest}`);
    const actual = `sha256:${createHash("sha256").update(res.body).digest("hex")}`;
    if (res.status !== 200 || actual !== digest) bad.push(digest);
  }
  return bad;
}

export async function blobPresent(reg: TestRegistry, repo: string, digest: string): Promise<boolean> {
  const res = await fixtureClient(reg).send("HEAD", repo, `/v2/${repo}/blobs/${digest}`);
  return res.status === 200;
}

/** Lines a logger received that mention a retry (what an operator sees about transient failures). */
export function retryLines(lines: string[]): string[] {
  return lines.filter((l) => /retr(y|ying|ies)/i.test(l));
}

/**
 * Every blob the copy of `release` needs (module images, index children, the Deckhouse image) with its size, read
 * from the source registry's manifests.
 */
export async function releaseBlobSizes(reg: TestRegistry, repo: string, release: SeededRelease): Promise<Map<string, number>> {
  const client = fixtureClient(reg);
  const sizes = new Map<string, number>();
  const accept = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(", ");
  const visit = async (ref: string): Promise<void> => {
    const res = await client.send("GET", repo, `/v2/${repo}/manifests/${ref}`, { headers: { accept } });
    if (res.status !== 200) throw new Error(`GET manifest ${repo}:${ref}: HTTP ${res.status}`);
    const manifest = JSON.parse(res.body.toString("utf8")) as { manifests?: Array<{ digest: string }>; config?: Descriptor; layers?: Descriptor[] };
    for (const child of manifest.manifests ?? []) await visit(child.digest);
    for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) sizes.set(blob.digest, blob.size);
  };
  for (const entry of release.entries) await visit(entry.value);
  await visit(release.deckhouseImage.slice(release.deckhouseImage.lastIndexOf(":") + 1));
  return sizes;
}

/** The blobs of `digests` that `repo` of the registry holds. */
export async function heldBlobs(reg: TestRegistry, repo: string, digests: Iterable<string>): Promise<Set<string>> {
  const held = new Set<string>();
  for (const digest of digests) if (await blobPresent(reg, repo, digest)) held.add(digest);
  return held;
}

/** Blob uploads that reached the registry through `proxy`: digests committed (PUT ?digest= answered 201), body bytes sent. */
export function uploadsThrough(proxy: FaultProxy): { committed: string[]; bytes: number } {
  const uploads = proxy.requests().filter((r) => r.kind === "upload" && (r.method === "PUT" || r.method === "PATCH"));
  const committed = uploads
    .filter((r) => r.method === "PUT" && r.status === 201)
    .map((r) => new URL(r.path, "http://x").searchParams.get("digest") as string);
  return { committed, bytes: uploads.reduce((sum, r) => sum + r.bytesIn, 0) };
}

export interface FaultSetup {
  /** The seeded plain source behind its fault proxy. */
  source: ProxiedRegistry;
  release: SeededRelease;
  work: string;
  /** A fresh target behind a fault proxy (TLS + basic auth unless told otherwise), stopped after the file's tests. */
  freshTarget(opts?: RegistryOptions, proxyOpts?: ProxyOptions): Promise<ProxiedRegistry>;
}

/**
 * Declares the file's beforeAll/afterAll/afterEach: a plain registry seeded with `seed` behind a fault proxy (its
 * faults and counters cleared after each test), fresh targets on demand, a work directory; all stopped or removed
 * after the file's tests. The returned object's fields are set once beforeAll has run.
 */
export function useFaultSetup(name: string, seed: SeedOptions, alongside?: () => Promise<unknown>): FaultSetup {
  const targets: ProxiedRegistry[] = [];
  const setup = {
    async freshTarget(opts: RegistryOptions = { tls: true, auth: "basic" }, proxyOpts: ProxyOptions = {}) {
      const target = await proxiedRegistry(opts, proxyOpts);
      targets.push(target);
      return target;
    },
  } as FaultSetup;
  beforeAll(async () => {
    const reg = await startRegistry();
    setup.source = await proxied(reg);
    [setup.release] = await Promise.all([seedRelease(reg, REPO, { ...seed, seed: seed.seed ?? name }), alongside?.()]);
    setup.work = tempDir(name);
  });
  afterAll(async () => {
    await Promise.all([setup.source?.stop(), ...targets.map((t) => t.stop())]);
    removeDir(setup.work);
  });
  afterEach(() => {
    setup.source.proxy.clearFaults();
    setup.source.proxy.resetCounters();
  });
  return setup;
}
