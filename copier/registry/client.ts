// OCI Distribution API calls on one repository: manifests (get, head, put), blobs (head, get as a stream,
// upload monolithic or chunked, cross-repository mount), each answer checked and errors named after the image.

import type { Readable } from "node:stream";
import * as z from "zod";
import { MANIFEST_ACCEPT } from "../manifest";
import { digestWithAlgorithmOf } from "../digest-verifier";
import type { RegistryTransport, Response } from "../transport/transport";
import { parseRetryAfter } from "../transport/retry";
import { ByteCursor } from "./byte-cursor";
import { describeErrorBody, RegistryError, STATUS_TEXT } from "./errors";
import { resolveLocation, withQuery } from "./location";

export interface ManifestData {
  bytes: Buffer;
  digest: string;
  contentType: string | undefined;
}

const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
const MAX_TAG_PAGES = 100;
const tagListSchema = z.object({ tags: z.array(z.string()).nullish() }).loose();

export class RepositoryClient {
  constructor(
    readonly transport: RegistryTransport,
    readonly repository: string,
    /** Scopes sent with every request, e.g. pull,push here plus pull on a mount source. */
    readonly scopes: string[],
  ) {}

  get name(): string {
    return `${this.transport.registry}/${this.repository}`;
  }

  private path(kind: "manifests" | "blobs", ref: string): string {
    return `/v2/${this.repository}/${kind}/${ref}`;
  }

  /** Fetches a manifest's exact bytes; the digest is checked against the content (and the one asked for). */
  async getManifest(reference: string): Promise<ManifestData> {
    const res = await this.transport.send({
      method: "GET",
      url: this.path("manifests", reference),
      scopes: this.scopes,
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.statusCode !== 200) throw await failure(res, `GET manifest ${this.ref(reference)}`);
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, `manifest ${this.ref(reference)}`);
    const headerDigest = header(res, "docker-content-digest");
    const expected = reference.includes(":") ? reference : headerDigest;
    const digest = expected ? digestWithAlgorithmOf(expected, bytes) : digestWithAlgorithmOf("sha256:", bytes);
    if (reference.includes(":") && digest !== reference) {
      throw new RegistryError(`manifest ${this.ref(reference)}: content has digest ${digest}, not the one asked for`, 200);
    }
    if (headerDigest && headerDigest.split(":")[0] === digest.split(":")[0] && headerDigest !== digest) {
      throw new RegistryError(`manifest ${this.ref(reference)}: Docker-Content-Digest ${headerDigest} does not match the content (${digest})`, 200);
    }
    return { bytes, digest, contentType: header(res, "content-type") };
  }

  /**
   * The digest the repository holds under `reference`, or undefined when it holds none. 403 counts as absent only
   * when `forbiddenIsAbsent` (Artifactory answers HEAD of a missing manifest with 403).
   */
  async headManifest(reference: string, forbiddenIsAbsent = false): Promise<string | undefined> {
    const res = await this.transport.send({
      method: "HEAD",
      url: this.path("manifests", reference),
      scopes: this.scopes,
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.statusCode !== 200 && !(res.statusCode === 404 || (forbiddenIsAbsent && res.statusCode === 403))) {
      throw await failure(res, `HEAD manifest ${this.ref(reference)}`);
    }
    await res.body.dump();
    if (res.statusCode !== 200) return undefined;
    const digest = header(res, "docker-content-digest");
    if (digest) return digest;
    // No digest header: fall back to reading the manifest.
    return (await this.getManifest(reference)).digest;
  }

  /** PUTs the exact bytes under a tag or digest and returns the digest the registry reports. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string | undefined> {
    const res = await this.transport.send({
      method: "PUT",
      url: this.path("manifests", reference),
      scopes: this.scopes,
      headers: { "content-type": mediaType },
      body: bytes,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200 && res.statusCode !== 202) {
      throw await failure(res, `PUT manifest ${this.ref(reference)}`);
    }
    await res.body.dump();
    return header(res, "docker-content-digest");
  }

  /**
   * Every tag of the repository (following `Link: rel="next"` pages); undefined when the registry will not list
   * them. A repository the registry answers NAME_UNKNOWN for has no tags, but may still hold blobs and untagged
   * manifests (distribution answers so until the first tag is pushed, e.g. after a run killed before that).
   */
  async listTags(): Promise<Set<string> | undefined> {
    const tags = new Set<string>();
    let url: string | URL = `/v2/${this.repository}/tags/list?n=1000`;
    for (let page = 0; page < MAX_TAG_PAGES; page++) {
      const res = await this.transport.send({ method: "GET", url, scopes: this.scopes });
      if (res.statusCode !== 200) {
        const error = await failure(res, `list tags of ${this.name}`);
        return res.statusCode === 404 && error.codes.includes("NAME_UNKNOWN") ? tags : undefined;
      }
      const body = await readLimited(res, MAX_MANIFEST_BYTES, `tag list of ${this.name}`);
      let parsed;
      try {
        parsed = tagListSchema.safeParse(JSON.parse(body.toString("utf8")));
      } catch {
        return undefined;
      }
      if (!parsed.success) return undefined;
      for (const tag of parsed.data.tags ?? []) tags.add(tag);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, "link") ?? "")?.[1];
      if (!next) return tags;
      url = new URL(next, new URL(url, this.transport.baseUrl));
    }
    return undefined;
  }

  /** Whether the blob exists here (its size when it does). */
  async headBlob(digest: string): Promise<number | undefined> {
    const res = await this.transport.send({ method: "HEAD", url: this.path("blobs", digest), scopes: this.scopes, followRedirects: true });
    if (res.statusCode !== 200 && res.statusCode !== 404) throw await failure(res, `HEAD blob ${this.blobRef(digest)}`);
    await res.body.dump();
    if (res.statusCode === 404) return undefined;
    const length = Number(header(res, "content-length"));
    return Number.isFinite(length) ? length : 0;
  }

  /**
   * Opens the blob's bytes as a stream (following redirects to storage without forwarding credentials). With
   * `from` > 0 it asks for the rest from that byte on (`Range`); `start` is where the body begins: `from` when the
   * registry answered 206, 0 when it ignored the Range and sent the whole blob.
   */
  async getBlob(digest: string, opts: { signal?: AbortSignal; from?: number } = {}): Promise<{ body: Readable; start: number }> {
    const from = opts.from ?? 0;
    const res = await this.transport.send({
      method: "GET",
      url: this.path("blobs", digest),
      scopes: this.scopes,
      followRedirects: true,
      ...(from > 0 ? { headers: { range: `bytes=${from}-` } } : {}),
      signal: opts.signal,
    });
    if (res.statusCode === 200) return { body: res.body, start: 0 };
    if (res.statusCode === 206 && from > 0) {
      const start = Number(/^bytes\s+(\d+)-\d+\/(?:\d+|\*)$/.exec(header(res, "content-range") ?? "")?.[1]);
      if (Number.isSafeInteger(start) && start <= from) return { body: res.body, start };
      await res.body.dump();
      throw new RegistryError(`GET blob ${this.blobRef(digest)} from byte ${from}: unusable Content-Range "${header(res, "content-range") ?? ""}"`, 206);
    }
    throw await failure(res, `GET blob ${this.blobRef(digest)}${from > 0 ? ` from byte ${from}` : ""}`);
  }

  /**
   * Starts an upload, or mounts the blob from `from` in the same registry. Returns "mounted" when the registry
   * mounted it, else the session to upload to (with the registry's minimum chunk size, when it names one).
   */
  async startUpload(mount?: { digest: string; from: string }): Promise<UploadSession | "mounted"> {
    const base = new URL(`/v2/${this.repository}/blobs/uploads/`, this.transport.baseUrl);
    if (mount) {
      const url = withQuery(base, { mount: mount.digest, from: mount.from });
      const res = await this.transport.send({ method: "POST", url, scopes: this.scopes, headers: { "content-length": "0" } });
      await res.body.dump();
      if (res.statusCode === 201) return "mounted";
      if (res.statusCode === 202) return session(res, url, `upload of ${this.blobRef(mount.digest)}`);
      // 400/401/403/404 (Harbor, ECR…): fall through to a plain upload.
    }
    const res = await this.transport.send({ method: "POST", url: base, scopes: this.scopes, headers: { "content-length": "0" } });
    if (res.statusCode !== 202 && res.statusCode !== 201) throw await failure(res, `start upload to ${this.name}`);
    await res.body.dump();
    return session(res, base, `upload to ${this.name}`);
  }

  /**
   * Starts an upload of `digest` unless this repository holds the blob, in one request: a mount of the blob from
   * this very repository, which a registry that supports mounts answers 201 when it holds it and 202 (a session)
   * when not. Undefined when the registry refused the mount request. A registry that ignores mounts answers 202
   * either way, so callers use this only after a probe showed the registry answers 201 for a blob it holds.
   */
  async startUploadUnlessHeld(digest: string): Promise<UploadSession | "held" | undefined> {
    const url = withQuery(new URL(`/v2/${this.repository}/blobs/uploads/`, this.transport.baseUrl), { mount: digest, from: this.repository });
    const res = await this.transport.send({ method: "POST", url, scopes: this.scopes, headers: { "content-length": "0" } });
    await res.body.dump();
    if (res.statusCode === 201) {
      const held = header(res, "docker-content-digest");
      if (held && held !== digest) throw new RegistryError(`mount of ${this.blobRef(digest)}: the registry answered for ${held}`, 201);
      return "held";
    }
    if (res.statusCode === 202) return session(res, url, `upload of ${this.blobRef(digest)}`);
    return undefined;
  }

  /** Monolithic upload: one PUT `<location>&digest=` with the whole body streamed and its length declared. */
  async putBlob(location: URL, digest: string, size: number, body: Readable, signal?: AbortSignal): Promise<void> {
    const url = withQuery(location, { digest });
    const res = await this.transport.send({
      method: "PUT",
      url,
      scopes: this.scopes,
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
      body,
      signal,
    });
    if (res.statusCode !== 201 && res.statusCode !== 204) throw await failure(res, `upload blob ${this.blobRef(digest)}`);
    await res.body.dump();
  }

  /**
   * Chunked upload (the spec's protocol): PATCHes of `chunkBytes` (at least the registry's minimum) with
   * Content-Range, each to the Location the previous one returned, then PUT `?digest=` with no body. For registries
   * without monolithic PUT and for proxies with a request-size limit (Cloudflare's 100 MB, GHCR's chunk limit).
   */
  async chunkedUpload(upload: UploadSession, digest: string, size: number, body: Readable, chunkBytes: number, signal?: AbortSignal): Promise<void> {
    const chunk = Math.max(chunkBytes, upload.minChunkBytes ?? 0);
    const cursor = new ByteCursor(body);
    let location = upload.location;
    for (let offset = 0; offset < size; ) {
      const length = Math.min(chunk, size - offset);
      const patch = await this.transport.send({
        method: "PATCH",
        url: location,
        scopes: this.scopes,
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(length),
          "content-range": `${offset}-${offset + length - 1}`,
        },
        body: cursor.take(length),
        signal,
      });
      const what = `upload blob ${this.blobRef(digest)} (PATCH ${offset}-${offset + length - 1} of ${size})`;
      if (patch.statusCode !== 202 && patch.statusCode !== 204 && patch.statusCode !== 201) throw await failure(patch, what);
      await patch.body.dump();
      offset += length;
      // ECR accepts the blob on the last PATCH (201) and rejects a following PUT; the bytes were digest-checked
      // while streaming, and the registry's digest, when it names one, must be ours.
      if (patch.statusCode === 201) {
        if (offset < size) throw new RegistryError(`${what}: the registry closed the upload before its last chunk`, 201);
        const stored = header(patch, "docker-content-digest");
        if (stored && stored !== digest) throw new RegistryError(`upload blob ${this.blobRef(digest)}: the registry stored digest ${stored}`, 201);
        return;
      }
      if (patch.headers.location) location = resolveLocation(patch.headers.location, location, `upload of ${this.blobRef(digest)}`);
    }
    const put = await this.transport.send({
      method: "PUT",
      url: withQuery(location, { digest }),
      scopes: this.scopes,
      headers: { "content-type": "application/octet-stream", "content-length": "0" },
      body: Buffer.alloc(0),
    });
    if (put.statusCode !== 201 && put.statusCode !== 204) throw await failure(put, `commit blob ${this.blobRef(digest)}`);
    await put.body.dump();
  }

  /** Cancels an upload session; failures are ignored (the spec says clients SHOULD try). */
  async cancelUpload(location: URL): Promise<void> {
    try {
      const res = await this.transport.send({ method: "DELETE", url: location, scopes: this.scopes });
      await res.body.dump();
    } catch {
      // ignored
    }
  }

  private ref(reference: string): string {
    return reference.includes(":") ? `${this.name}@${reference}` : `${this.name}:${reference}`;
  }

  private blobRef(digest: string): string {
    return `${this.name}@${digest}`;
  }
}

export interface UploadSession {
  location: URL;
  /** `OCI-Chunk-Min-Length` of the POST: every chunk but the last should be at least this long. */
  minChunkBytes?: number;
}

function session(res: Response, requestUrl: URL, what: string): UploadSession {
  const location = resolveLocation(res.headers.location, requestUrl, what);
  const min = Number(header(res, "oci-chunk-min-length"));
  return Number.isSafeInteger(min) && min > 0 ? { location, minChunkBytes: min } : { location };
}

function header(res: Response, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      res.body.destroy();
      throw new RegistryError(`${what} is larger than ${limit} bytes`, res.statusCode);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A RegistryError for an unexpected answer, with the registry's explanation when it gave one. */
export async function failure(res: Response, what: string): Promise<RegistryError> {
  let text = "";
  try {
    // undici throws asynchronously (uncatchably) when text() is called on a body already consumed.
    if (!res.body.readableEnded && !res.body.destroyed && !res.body.bodyUsed) text = (await res.body.text()).slice(0, 64 * 1024);
    else await res.body.dump();
  } catch {
    // body unreadable: the status alone must do
  }
  const { summary, codes } = describeErrorBody(text);
  const status = `HTTP ${res.statusCode}${STATUS_TEXT[res.statusCode] ? ` ${STATUS_TEXT[res.statusCode]}` : ""}`;
  return new RegistryError(`${what}: ${status}${summary ? ` (${summary})` : ""}`, res.statusCode, codes, parseRetryAfter(res.headers["retry-after"]));
}
