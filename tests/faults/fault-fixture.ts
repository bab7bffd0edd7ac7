// Shared set-up of the fault tests: a seeded plain source and a fresh TLS target, each behind a fault proxy,
// the copier's repo configs pointing at the proxies, and a byte-for-byte check of every blob in the target.
import { createHash } from "node:crypto";
import { testCerts } from "../helpers/certs";
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from "../helpers/fault-proxy";
import { startRegistry, type RegistryOptions, type TestRegistry } from "../helpers/registry";
import { fixtureClient, type SeededRelease } from "../helpers/images";

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
