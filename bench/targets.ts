/**
 * What the benchmark needs around the registries: the copier's config dir, the skopeo sync command line, and a
 * check that a target holds every tag of the source with the same manifest digest.
 */
import { mkdirSync } from "node:fs";
import { request } from "undici";
import type { TestRegistry } from "../tests/helpers/registry";
import { writeJson } from "./measure";

const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/**
 * The registry as the tools see it through a proxy at `host` (same TLS certificate and credentials): the copier's
 * repo config and skopeo's arguments name the proxy; checks of the copy still go to the registry itself.
 */
export function reachedAt(reg: TestRegistry, host: string): TestRegistry {
  const ref = (pathAndRef: string) => (pathAndRef.startsWith(`${host}/`) ? pathAndRef : `${host}/${pathAndRef}`);
  return { ...reg, host, url: `${reg.scheme}://${host}`, ref, repoConfig: (image) => ({ ...reg.repoConfig(image), image: ref(image) }) };
}

/** Writes dest-repo.json, d8-repo.json and d8-images.json for a copy of `repo:tag` from source to target. */
export function copierConfigDir(
  dir: string,
  source: TestRegistry,
  target: { repoConfig(image: string): object },
  repoAndTag: string,
  images: Record<string, Record<string, string>>,
): string {
  mkdirSync(dir, { recursive: true });
  writeJson(dir, "d8-repo.json", source.repoConfig(repoAndTag));
  writeJson(dir, "dest-repo.json", target.repoConfig(repoAndTag));
  writeJson(dir, "d8-images.json", images);
  return dir;
}

/** skopeo sync of every tag of `repo` (e.g. deckhouse/ee) into the same repository path of the target. */
export function skopeoSyncArgs(source: TestRegistry, target: TestRegistry, repo: string): string[] {
  const parent = repo.split("/").slice(0, -1).join("/");
  const args = ["sync", "--all", "--src", "docker", "--dest", "docker"];
  args.push(source.scheme === "https" ? `--src-cert-dir=${source.caDir}` : "--src-tls-verify=false");
  if (source.username) args.push(`--src-creds=${source.username}:${source.password}`);
  args.push(target.scheme === "https" ? `--dest-cert-dir=${target.caDir}` : "--dest-tls-verify=false");
  if (target.username) args.push(`--dest-creds=${target.username}:${target.password}`);
  args.push(`${source.host}/${repo}`, parent ? `${target.host}/${parent}` : target.host);
  return args;
}

async function manifestDigest(reg: TestRegistry, repo: string, tag: string): Promise<string | undefined> {
  const headers: Record<string, string> = { accept: ACCEPT };
  if (reg.username) headers.authorization = `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString("base64")}`;
  const res = await request(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers, dispatcher: reg.dispatcher });
  await res.body.dump();
  if (res.statusCode !== 200) return undefined;
  return String(res.headers["docker-content-digest"]);
}

/** Names of tags whose manifest digest differs between source and target (empty when the copy is complete). */
export async function missingOrDifferent(source: TestRegistry, target: TestRegistry, repo: string, tags: string[]): Promise<string[]> {
  const bad: string[] = [];
  for (let i = 0; i < tags.length; i += 16) {
    await Promise.all(
      tags.slice(i, i + 16).map(async (tag) => {
        const [a, b] = await Promise.all([manifestDigest(source, repo, tag), manifestDigest(target, repo, tag)]);
        if (!a || a !== b) bad.push(tag);
      }),
    );
  }
  return bad;
}
