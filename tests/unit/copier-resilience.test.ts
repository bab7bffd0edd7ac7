// Failures a real registry cannot be made to show on demand: a token service answering 503 or resetting, a slow
// link reset late in a long blob, a wrong password answered with 403, ECR's early accept of the last PATCH and
// Harbor's 401 on a mount. A small in-memory registry on 127.0.0.1 (the suite's HTTP stub) plays the registry.
import { createHash, randomBytes } from "node:crypto";
import * as http from "node:http";
import { Readable } from "node:stream";
import { copyRelease, type CopyReleaseOptions } from "../../copier/copy";
import { AuthError } from "../../copier/transport/auth";
import { RegistryTransport } from "../../copier/transport/transport";
import { serveStub } from "../helpers/http-stub";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Answers a request itself and returns true, or returns false to let the registry answer. */
type Hook = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => boolean;

interface Fake {
  host: string;
  /** Blobs by `repository@digest`. */
  blobs: Map<string, Buffer>;
  manifests: Map<string, { bytes: Buffer; type: string }>;
  seen: string[];
  hook?: Hook;
  close(): Promise<void>;
}

async function startFake(hook?: Hook): Promise<Fake> {
  const fake: Fake = { host: "", blobs: new Map(), manifests: new Map(), seen: [], hook, close: async () => undefined };
  const uploads = new Map<string, Buffer>();
  let nextUpload = 0;
  const stub = await serveStub((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => undefined);
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? "/", "http://x");
      fake.seen.push(`${req.method} ${url.pathname}${url.search}`);
      if (fake.hook?.(req, res, body)) return;
      if (url.pathname === "/v2/") return void res.writeHead(200).end();
      let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
      if (m) {
        const key = `${m[1]}:${m[2]}`;
        if (req.method === "PUT") {
          const entry = { bytes: body, type: String(req.headers["content-type"]) };
          fake.manifests.set(key, entry);
          fake.manifests.set(`${m[1]}:${sha(body)}`, entry);
          return void res.writeHead(201, { "docker-content-digest": sha(body) }).end();
        }
        const found = fake.manifests.get(key);
        if (!found) return void res.writeHead(404).end();
        res.writeHead(200, { "content-type": found.type, "docker-content-digest": sha(found.bytes), "content-length": found.bytes.length });
        return void res.end(req.method === "HEAD" ? undefined : found.bytes);
      }
      m = /^\/v2\/(.+)\/blobs\/uploads\/(\d*)$/.exec(url.pathname);
      if (m) {
        if (req.method === "POST") {
          const id = String(++nextUpload);
          uploads.set(id, Buffer.alloc(0));
          return void res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${id}` }).end();
        }
        const id = m[2];
        if (req.method === "DELETE") return void res.writeHead(204).end();
        const held = Buffer.concat([uploads.get(id) ?? Buffer.alloc(0), body]);
        if (req.method === "PATCH") {
          uploads.set(id, held);
          return void res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${id}`, range: `0-${held.length - 1}` }).end();
        }
        const digest = url.searchParams.get("digest") ?? "";
        if (sha(held) !== digest) return void res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
        fake.blobs.set(`${m[1]}@${digest}`, held);
        return void res.writeHead(201, { "docker-content-digest": digest }).end();
      }
      m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url.pathname);
      if (m) {
        const blob = fake.blobs.get(`${m[1]}@${m[2]}`);
        if (!blob) return void res.writeHead(404).end();
        res.writeHead(200, { "content-length": blob.length });
        return void res.end(req.method === "HEAD" ? undefined : blob);
      }
      res.writeHead(404).end();
    });
  });
  fake.host = stub.host;
  fake.close = stub.close;
  return fake;
}

/** One image (config + one layer of `size` random bytes) under deckhouse/ee:<tag> in `fake`. */
function seedImage(fake: Fake, size: number, tag = "v1", architecture = "amd64"): { layer: string; layerBytes: Buffer; config: Buffer } {
  const config = Buffer.from(JSON.stringify({ architecture, os: "linux" }));
  const layerBytes = randomBytes(size);
  fake.blobs.set(`deckhouse/ee@${sha(config)}`, config);
  fake.blobs.set(`deckhouse/ee@${sha(layerBytes)}`, layerBytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(layerBytes), size: layerBytes.length }],
    }),
  );
  fake.manifests.set(`deckhouse/ee:${tag}`, { bytes: manifest, type: "application/vnd.oci.image.manifest.v1+json" });
  // by digest too, as a registry serves it (the copy pushes the Deckhouse image's original tag by digest)
  fake.manifests.set(`deckhouse/ee:${sha(manifest)}`, { bytes: manifest, type: "application/vnd.oci.image.manifest.v1+json" });
  return { layer: sha(layerBytes), layerBytes, config };
}

const fast = { baseDelayMs: 10, maxDelayMs: 20, maxAttempts: 4, maxElapsedMs: 10_000, maxRetryAfterMs: 100 };

function options(src: Fake, dst: Fake, extra: Partial<CopyReleaseOptions> = {}): CopyReleaseOptions {
  return {
    source: { insecure: true, image: `${src.host}/deckhouse/ee:v1` },
    target: { insecure: true, image: `${dst.host}/mirror/ee:new` },
    images: { mod: { img: "v1" } },
    concurrency: 4,
    retry: fast,
    ...extra,
  };
}

describe("copier resilience", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  });
  async function fake(hook?: Hook): Promise<Fake> {
    const f = await startFake(hook);
    closers.push(f.close);
    return f;
  }

  describe("token service failures", () => {
    const password = 'p"a:ss-word';
    /** A Bearer registry whose token endpoint answers with `token(n)` for the n-th token request. */
    async function bearerRegistry(token: (n: number, res: http.ServerResponse, req: http.IncomingMessage) => boolean) {
      let tokenRequests = 0;
      let putBody: Buffer = Buffer.alloc(0);
      const f = await fake((req, res, body) => {
        const url = new URL(req.url ?? "/", "http://x");
        if (url.pathname === "/token") {
          tokenRequests++;
          if (!token(tokenRequests, res, req)) res.writeHead(200, { "content-type": "application/json" }).end('{"token":"tok","expires_in":300}');
          return true;
        }
        if (req.headers.authorization !== "Bearer tok") {
          res.writeHead(401, { "www-authenticate": `Bearer realm="http://${req.headers.host}/token",service="fake"` }).end();
          return true;
        }
        if (req.method === "PUT") putBody = body;
        res.writeHead(req.method === "PUT" ? 201 : 200).end("ok");
        return true;
      });
      return { f, tokenRequests: () => tokenRequests, putBody: () => putBody };
    }

    it("retries a token service that answers 503 once (honouring Retry-After)", async () => {
      const reg = await bearerRegistry((n, res) => (n === 1 ? (res.writeHead(503, { "retry-after": "0" }).end(), true) : false));
      const retries: string[] = [];
      const t = new RegistryTransport(reg.f.host, { insecure: true, username: "u", password, retry: fast, onRetry: (m) => retries.push(m) });
      closers.push(() => t.close());
      const res = await t.send({ method: "GET", url: "/v2/a/manifests/x", scopes: ["repository:a:pull"] });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      expect(reg.tokenRequests()).toBe(2);
      expect(retries).toEqual([expect.stringMatching(/token service .* answered HTTP 503; retry 1 of 3 in 0 ms$/)]);
    });

    it("retries a token service that resets the connection, also before a streamed upload", async () => {
      const reg = await bearerRegistry((n, res, req) => (n === 1 ? (req.socket.destroy(), true) : false));
      const t = new RegistryTransport(reg.f.host, { insecure: true, username: "u", password, retry: fast });
      closers.push(() => t.close());
      const payload = randomBytes(4096);
      const res = await t.send({
        method: "PUT",
        url: "/v2/a/blobs/uploads/1",
        scopes: ["repository:a:pull,push"],
        headers: { "content-length": String(payload.length) },
        body: Readable.from([payload]),
      });
      expect(res.statusCode).toBe(201);
      await res.body.dump();
      expect(reg.tokenRequests()).toBe(2);
      expect(reg.putBody().equals(payload)).toBe(true);
    });

    it("fails fast on a 401 from the token service with one line naming the user, never the password", async () => {
      const reg = await bearerRegistry((_n, res) => (res.writeHead(401).end(), true));
      const t = new RegistryTransport(reg.f.host, { insecure: true, username: "u", password, retry: fast });
      closers.push(() => t.close());
      const err = await t.send({ method: "GET", url: "/v2/a/manifests/x", scopes: ["repository:a:pull"] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).status).toBe(401);
      expect((err as Error).message).toMatch(/refused the credentials of user "u" \(token service answered 401\)/);
      expect((err as Error).message).not.toContain(password);
      expect((err as Error).message).not.toContain("\n");
      expect(reg.tokenRequests()).toBe(1);
    });
  });

  describe("long blob transfers", () => {
    it("resumes a blob reset after a long piece (time without progress is what is bounded); a 200 to its Range starts over", async () => {
      const gets: Array<string | undefined> = [];
      let layer = "";
      const src = await fake((req, res) => {
        if (req.method !== "GET" || !req.url?.endsWith(layer)) return false;
        gets.push(req.headers.range);
        // The registry ignores Range: the resume gets the whole blob again (200), and drops what it passed on.
        if (gets.length > 1) return false;
        // A slow link: half the layer, a long pause (longer than maxElapsedMs), then a reset.
        res.writeHead(200, { "content-length": 256 * 1024 });
        res.write(layerBytes.subarray(0, 128 * 1024));
        setTimeout(() => req.socket.destroy(), 600);
        return true;
      });
      const { layer: seeded, layerBytes } = seedImage(src, 256 * 1024);
      layer = seeded;
      const dst = await fake();
      const logs: string[] = [];
      const report = await copyRelease(options(src, dst, { retry: { ...fast, maxElapsedMs: 300 }, logger: (m) => logs.push(m) }));
      expect(report.error).toBeUndefined();
      expect(report.status).toBe("succeeded");
      expect(gets).toEqual([undefined, "bytes=131072-"]);
      // one upload session per blob (config and layer): the layer's upload was not started over at the target
      expect(dst.seen.filter((s) => s.startsWith("POST ") && !s.includes("mount=")).length).toBe(2);
      expect(dst.seen.filter((s) => s.startsWith("PUT ") && s.includes(encodeURIComponent(layer))).length).toBe(1);
      expect(dst.blobs.get(`mirror/ee@${layer}`)?.equals(src.blobs.get(`deckhouse/ee@${layer}`)!)).toBe(true);
      expect(logs.some((l) => l.includes(`blob ${layer}`) && l.includes("retrying from byte 131072 of 262144"))).toBe(true);
    });

    it("still bounds the attempts of a blob that keeps resetting after some bytes", async () => {
      let gets = 0;
      let layer = "";
      const src = await fake((req, res) => {
        if (req.method !== "GET" || !req.url?.endsWith(layer)) return false;
        gets++;
        res.writeHead(200, { "content-length": 64 * 1024 });
        res.write(randomBytes(16 * 1024), () => setTimeout(() => req.socket.destroy(), 20));
        return true;
      });
      layer = seedImage(src, 64 * 1024).layer;
      const dst = await fake();
      const report = await copyRelease(options(src, dst));
      expect(report.status).toBe("failed");
      expect(gets).toBe(fast.maxAttempts);
      expect(dst.blobs.has(`mirror/ee@${layer}`)).toBe(false);
      expect(dst.manifests.size).toBe(0);
    });
  });

  describe("preflight credentials", () => {
    const password = "wr0ng:pass\"word";
    /** Basic auth; a wrong password is answered with 403 (as some registries do), a missing manifest with 403 too. */
    function basicRegistry(goodPassword: string): Hook {
      const good = `Basic ${Buffer.from(`u:${goodPassword}`).toString("base64")}`;
      return (req, res) => {
        if (!req.headers.authorization) {
          res.writeHead(401, { "www-authenticate": 'Basic realm="fake"' }).end();
          return true;
        }
        if (req.headers.authorization !== good) {
          res.writeHead(403).end('{"errors":[{"code":"DENIED","message":"access denied"}]}');
          return true;
        }
        return false;
      };
    }

    it("fails once, clearly, when the target answers a wrong password with 403", async () => {
      const src = await fake();
      seedImage(src, 1024);
      const dst = await fake(basicRegistry("right"));
      const report = await copyRelease({ ...options(src, dst), target: { insecure: true, image: `${dst.host}/mirror/ee:new`, username: "u", password } });
      expect(report.status).toBe("failed");
      expect(report.error).toMatch(/^target: registry 127\.0\.0\.1:\d+ refused the credentials of user "u" \(GET \/v2\/ answered 403\)$/);
      expect(report.error).not.toContain(password);
      expect(report.images).toHaveLength(0);
      // nothing was attempted image by image
      expect(dst.seen.filter((s) => s !== "GET /v2/")).toEqual([]);
      expect(src.seen.some((s) => s.startsWith("GET /v2/deckhouse/ee/blobs/"))).toBe(false);
    });

    it("still takes 403 on a manifest HEAD as absent when the credentials are right (Artifactory)", async () => {
      const src = await fake();
      seedImage(src, 1024);
      const dst = await fake((req, res) => {
        if (req.method === "HEAD" && req.url?.includes("/manifests/")) {
          res.writeHead(403).end();
          return true;
        }
        return false;
      });
      const auth = basicRegistry("right");
      const wrapped = dst.hook!;
      dst.hook = (req, res, body) => auth(req, res, body) || wrapped(req, res, body);
      const report = await copyRelease({ ...options(src, dst), target: { insecure: true, image: `${dst.host}/mirror/ee:new`, username: "u", password: "right" } });
      expect(report.error).toBeUndefined();
      expect(report.totals.copied).toBe(2);
      expect(dst.manifests.has("mirror/ee:new")).toBe(true);
    });
  });

  describe("registry upload quirks", () => {
    it("accepts ECR's 201 on the last PATCH without the PUT it would reject", async () => {
      const src = await fake();
      const { layer } = seedImage(src, 8 * 1024);
      const committed = new Map<string, Buffer>();
      let putsAfterPatch = 0;
      const dst = await fake((req, res, body) => {
        const url = new URL(req.url ?? "/", "http://x");
        if (!url.pathname.includes("/blobs/uploads/") || req.method === "POST" || req.method === "DELETE") return false;
        if (req.method === "PUT" && body.length > 0) {
          res.writeHead(413).end(); // no monolithic uploads: the copier switches to PATCH
        } else if (req.method === "PATCH") {
          committed.set(sha(body), body);
          res.writeHead(201, { "docker-content-digest": sha(body) }).end();
        } else {
          putsAfterPatch++;
          res.writeHead(400).end('{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"upload already committed"}]}');
        }
        return true;
      });
      const report = await copyRelease(options(src, dst));
      expect(report.error).toBeUndefined();
      expect(report.status).toBe("succeeded");
      expect(committed.get(layer)?.equals(src.blobs.get(`deckhouse/ee@${layer}`)!)).toBe(true);
      expect(committed.size).toBe(2);
      expect(putsAfterPatch).toBe(0);
    });

    /** A target that takes only PATCH uploads up to `maxPatch` bytes (413 above), recording each PATCH. */
    async function patchOnlyTarget(maxPatch: number, minChunk?: number) {
      const patches: Array<{ range: string; length: number; status: number }> = [];
      let monolithic = 0;
      let nextId = 0;
      const dst = await fake((req, res, body) => {
        const url = new URL(req.url ?? "/", "http://x");
        if (!url.pathname.includes("/blobs/uploads/")) return false;
        if (req.method === "POST" && !url.search.includes("mount=")) {
          const headers: Record<string, string> = { location: `/v2/mirror/ee/blobs/uploads/${9000 + ++nextId}` };
          if (minChunk) headers["oci-chunk-min-length"] = String(minChunk);
          res.writeHead(202, headers).end();
          return true;
        }
        if (req.method === "PUT" && body.length > 0) {
          monolithic++;
          res.writeHead(413).end("<html>413 Request Entity Too Large</html>");
          return true;
        }
        if (req.method === "PATCH") {
          const status = body.length > maxPatch ? 413 : 202;
          patches.push({ range: String(req.headers["content-range"]), length: body.length, status });
          if (status === 413) {
            res.writeHead(413).end();
            return true;
          }
        }
        return false;
      });
      return { dst, patches, monolithic: () => monolithic };
    }

    it("sends chunks of at least OCI-Chunk-Min-Length with contiguous Content-Range, then PUT ?digest", async () => {
      const src = await fake();
      const { layer } = seedImage(src, 100 * 1024);
      const { dst, patches, monolithic } = await patchOnlyTarget(1024 * 1024, 40 * 1024);
      const report = await copyRelease(options(src, dst, { uploadChunkBytes: 16 * 1024 }));
      expect(report.error).toBeUndefined();
      expect(monolithic()).toBe(0);
      expect(dst.blobs.get(`mirror/ee@${layer}`)?.equals(src.blobs.get(`deckhouse/ee@${layer}`)!)).toBe(true);
      const layerPatches = patches.filter((p) => p.length > 1024);
      expect(layerPatches).toEqual([
        { range: "0-40959", length: 40960, status: 202 },
        { range: "40960-81919", length: 40960, status: 202 },
        { range: "81920-102399", length: 20480, status: 202 },
      ]);
    });

    it("switches to chunks after a 413 on the whole blob and halves them while chunks are refused", async () => {
      const src = await fake();
      const { layer } = seedImage(src, 3 * 1024 * 1024);
      const { dst, patches, monolithic } = await patchOnlyTarget(1.5 * 1024 * 1024);
      const logs: string[] = [];
      // maxAttempts 4: switching the way of uploading must not use up the retries
      const report = await copyRelease(options(src, dst, { logger: (m) => logs.push(m) }));
      expect(report.error).toBeUndefined();
      expect(dst.blobs.get(`mirror/ee@${layer}`)?.equals(src.blobs.get(`deckhouse/ee@${layer}`)!)).toBe(true);
      expect(monolithic()).toBeGreaterThanOrEqual(1);
      expect(logs.filter((l) => l.startsWith("switching to chunked uploads of 64.00 MiB"))).toHaveLength(1);
      // the 3 MiB blob went whole as one chunk, was refused, and half of what was sent then passed
      expect(logs.filter((l) => l.includes("refused as too large"))).toEqual([
        "an upload chunk of 3.00 MiB was refused as too large; chunks of 1.50 MiB from now on",
      ]);
      const accepted = patches.filter((p) => p.status === 202 && p.length > 1024);
      expect(accepted.map((p) => p.range)).toEqual(["0-1572863", "1572864-3145727"]);
    });

    it("fails the blob, bounded, when even 1 MiB chunks are refused", async () => {
      const src = await fake();
      const { layer } = seedImage(src, 3 * 1024 * 1024);
      const { dst, patches } = await patchOnlyTarget(512 * 1024);
      const report = await copyRelease(options(src, dst));
      expect(report.status).toBe("failed");
      expect(report.error).toMatch(/413/);
      expect(report.error).toContain("PATCH 0-1048575 of 3145728");
      expect(patches.filter((p) => p.length > 1024).length).toBeLessThanOrEqual(8);
      expect(dst.blobs.has(`mirror/ee@${layer}`)).toBe(false);
      expect(dst.manifests.size).toBe(0);
    });

    it("never commits a chunked blob whose bytes do not match its digest", async () => {
      let layer = "";
      const src = await fake((req, res) => {
        if (req.method !== "GET" || !req.url?.endsWith(layer)) return false;
        const bytes = Buffer.from(src.blobs.get(`deckhouse/ee@${layer}`)!);
        bytes[bytes.length - 10] ^= 0xff;
        res.writeHead(200, { "content-length": bytes.length }).end(bytes);
        return true;
      });
      layer = seedImage(src, 100 * 1024).layer;
      const { dst, patches } = await patchOnlyTarget(1024 * 1024);
      const report = await copyRelease(options(src, dst, { uploadChunkBytes: 32 * 1024 }));
      expect(report.status).toBe("failed");
      expect(report.error).toMatch(/digest/i);
      // the chunks before the last went out; the last (held back until the digest is proven) and the commit did not
      expect(patches.filter((p) => p.length > 1024).map((p) => p.range)).not.toContain("98304-102399");
      expect(dst.seen.some((l) => l.startsWith("PUT /v2/mirror/ee/blobs/uploads/") && l.includes(encodeURIComponent(layer)))).toBe(false);
      expect(dst.blobs.has(`mirror/ee@${layer}`)).toBe(false);
    });

    it("falls back to a plain upload when a mount POST is answered 401 (Harbor)", async () => {
      const reg = await fake((req, res) => {
        if (req.method === "POST" && req.url?.includes("mount=")) {
          res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED","message":"project not found"}]}');
          return true;
        }
        return false;
      });
      const { layer } = seedImage(reg, 2048);
      // one registry for both sides, so the copier tries to mount across repositories
      const report = await copyRelease({
        ...options(reg, reg),
        target: { insecure: true, image: `${reg.host}/mirror/ee:new` },
      });
      expect(report.error).toBeUndefined();
      expect(report.totals.copied).toBe(2);
      expect(reg.seen.some((s) => s.startsWith("POST /v2/mirror/ee/blobs/uploads/?mount="))).toBe(true);
      expect(reg.seen.some((s) => s === "POST /v2/mirror/ee/blobs/uploads/")).toBe(true);
      expect(reg.seen.some((s) => s.startsWith("PUT /v2/mirror/ee/blobs/uploads/") && s.includes(encodeURIComponent(layer)))).toBe(true);
      expect(reg.blobs.get(`mirror/ee@${layer}`)?.equals(reg.blobs.get(`deckhouse/ee@${layer}`)!)).toBe(true);
      expect(reg.manifests.has("mirror/ee:new")).toBe(true);
    });

    /**
     * Two images, the second's blobs already in the target (a killed run's), one slot: the first image's upload
     * lets the copier probe whether the target answers a mount from the repository itself with 201.
     */
    async function heldBlobsRun(honoursMounts: boolean): Promise<{ dst: Fake; held: string[] }> {
      const src = await fake();
      const first = seedImage(src, 4096);
      const { config, layerBytes: layer } = seedImage(src, 4096, "v2", "arm64");
      let held: Map<string, Buffer> | undefined;
      const dst = await fake((req, res) => {
        const url = new URL(req.url ?? "/", "http://x");
        const m = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(url.pathname);
        const digest = url.searchParams.get("mount") ?? "";
        if (!honoursMounts || req.method !== "POST" || !m || url.searchParams.get("from") !== m[1] || !held?.has(`${m[1]}@${digest}`)) return false;
        res.writeHead(201, { location: `/v2/${m[1]}/blobs/${digest}`, "docker-content-digest": digest }).end();
        return true;
      });
      held = dst.blobs;
      for (const blob of [config, layer]) dst.blobs.set(`mirror/ee@${sha(blob)}`, blob);
      const report = await copyRelease({ ...options(src, dst), images: { mod: { a: "v1", b: "v2" } }, concurrency: 1 });
      expect({ status: report.status, error: report.error }).toEqual({ status: "succeeded", error: undefined });
      expect(dst.blobs.get(`mirror/ee@${first.layer}`)?.equals(first.layerBytes)).toBe(true);
      return { dst, held: [sha(config), sha(layer)] };
    }

    it("with a registry that answers 201 to a mount of a blob it holds: one POST checks and starts, no HEAD", async () => {
      const { dst, held } = await heldBlobsRun(true);
      for (const digest of held) {
        expect(dst.seen.filter((s) => s.includes(encodeURIComponent(digest)) || s.includes(digest))).toEqual([
          `POST /v2/mirror/ee/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=mirror%2Fee`,
        ]);
      }
      // only the first blob, before the probe (a mount of that blob, just uploaded, answered 201), had a HEAD
      expect(dst.seen.filter((s) => s.startsWith("HEAD /v2/mirror/ee/blobs/")).length).toBe(1);
      expect(dst.seen.filter((s) => s.startsWith("POST /v2/mirror/ee/blobs/uploads/?mount=")).length).toBe(4);
    });

    it("with a registry that ignores mounts (202 either way): keeps asking with HEAD and uploads no blob it holds", async () => {
      const { dst, held } = await heldBlobsRun(false);
      for (const digest of held) {
        expect(dst.seen.filter((s) => s.includes(encodeURIComponent(digest)) || s.includes(digest))).toEqual([`HEAD /v2/mirror/ee/blobs/${digest}`]);
      }
      // the probe got a session, which was cancelled
      expect(dst.seen.filter((s) => s.startsWith("POST /v2/mirror/ee/blobs/uploads/?mount="))).toHaveLength(1);
      expect(dst.seen.filter((s) => s.startsWith("DELETE /v2/mirror/ee/blobs/uploads/"))).toHaveLength(1);
    });
  });
});
