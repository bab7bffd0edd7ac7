/**
 * The benchmark's own minimal pusher (independent of the copier): streams generated blobs into a plain-HTTP
 * registry with one POST + one streamed PATCH + PUT ?digest=, and puts manifests. Used only to seed data.
 */
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { Readable, Transform } from "node:stream";
import { createGzip } from "node:zlib";
import { Agent, request } from "undici";

export interface Pushed {
  digest: string;
  size: number;
}

const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK);

export class BenchPusher {
  private readonly agent = new Agent({ connections: 16, keepAliveTimeout: 30_000, bodyTimeout: 600_000 });

  constructor(private readonly origin: string) {}

  /**
   * Pushes a gzip stream (stored blocks, so almost no CPU) of about `size` incompressible pseudo-random bytes
   * (AES-CTR keystream) and returns its digest. Real gzip matters: skopeo rewrites a manifest whose "gzip" layer
   * does not look compressed, which would change digests.
   */
  async pushRandomBlob(repo: string, size: number): Promise<Pushed> {
    const cipher = createCipheriv("aes-128-ctr", randomBytes(16), randomBytes(16));
    const hash = createHash("sha256");
    let pushed = 0;
    const raw = Readable.from(
      (function* () {
        for (let left = size; left > 0; left -= CHUNK) yield cipher.update(left >= CHUNK ? ZEROS : ZEROS.subarray(0, left));
      })(),
    );
    const gzip = createGzip({ level: 0 });
    const counted = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        pushed += chunk.length;
        cb(null, chunk);
      },
    });
    const location = await this.startUpload(repo);
    const body = raw.pipe(gzip).pipe(counted);
    raw.on("error", (e) => body.destroy(e));
    gzip.on("error", (e) => body.destroy(e));
    const patched = await request(location, {
      method: "PATCH",
      body,
      headers: { "content-type": "application/octet-stream" },
      dispatcher: this.agent,
    });
    await patched.body.dump();
    if (patched.statusCode !== 202) throw new Error(`PATCH blob in ${repo}: HTTP ${patched.statusCode}`);
    const digest = `sha256:${hash.digest("hex")}`;
    await this.finishUpload(String(patched.headers.location), digest, undefined);
    return { digest, size: pushed };
  }

  async pushBytes(repo: string, bytes: Buffer): Promise<Pushed> {
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const location = await this.startUpload(repo);
    await this.finishUpload(location, digest, bytes);
    return { digest, size: bytes.length };
  }

  async putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<Pushed> {
    const res = await request(`${this.origin}/v2/${repo}/manifests/${reference}`, {
      method: "PUT",
      body: bytes,
      headers: { "content-type": mediaType },
      dispatcher: this.agent,
    });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`PUT manifest ${repo}:${reference}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length };
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private async startUpload(repo: string): Promise<string> {
    const res = await request(`${this.origin}/v2/${repo}/blobs/uploads/`, { method: "POST", dispatcher: this.agent });
    await res.body.dump();
    if (res.statusCode !== 202) throw new Error(`POST upload in ${repo}: HTTP ${res.statusCode}`);
    return new URL(String(res.headers.location), this.origin).toString();
  }

  private async finishUpload(location: string, digest: string, body: Buffer | undefined): Promise<void> {
    const url = new URL(location, this.origin);
    url.searchParams.set("digest", digest);
    const res = await request(url.toString(), {
      method: "PUT",
      body: body ?? Buffer.alloc(0),
      headers: { "content-type": "application/octet-stream" },
      dispatcher: this.agent,
    });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`PUT blob ${digest}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
  }
}
