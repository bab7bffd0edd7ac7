/**
 * A fault-injecting HTTP(S) proxy on 127.0.0.1 in front of ONE real registry, for fault tests and the benchmark.
 * The copier talks to the proxy as if it were the registry; the proxy forwards every request (undici) and can,
 * per rule matched by method + path pattern + count: answer a status (500/503/429 with Retry-After), stall,
 * reset the connection after N bytes of the request or response body, corrupt a byte of a response body,
 * throttle it, or drop the request's Range header. It also counts requests by kind ("HEAD manifest", "PUT upload"
 * ...) and client connections.
 * Absolute Locations that point at the upstream are rewritten to the proxy; WWW-Authenticate passes unchanged
 * (a token server on its own port stays reachable directly).
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Agent, request } from "undici";

export type Fault =
  /** answer this status without forwarding; 429 carries Retry-After when retryAfterSeconds is set */
  | { type: "status"; status: number; retryAfterSeconds?: number }
  /**
   * forward, send the first afterBytes bytes of the response body, then destroy the client connection; a body
   * no longer than afterBytes (by Content-Length) is cut one byte before its end, so the fault always bites
   */
  | { type: "reset-response"; afterBytes: number }
  /** read afterBytes bytes of the request body (same rule for short bodies), then destroy the client connection */
  | { type: "reset-request"; afterBytes: number }
  /**
   * wait ms before forwarding, or (with afterBytes) pause the response body after that many bytes (before the
   * last byte of a shorter body); Infinity = hang until the client gives up
   */
  | { type: "stall"; ms: number; afterBytes?: number }
  /** flip one byte of the response body (at atByte, default the middle of Content-Length or byte 0) */
  | { type: "corrupt"; atByte?: number }
  /** pass the response body at most bytesPerSecond */
  | { type: "throttle"; bytesPerSecond: number }
  /** forward without the request's Range header, as a registry that ignores Range (answers 200, whole body) */
  | { type: "ignore-range" };

export interface FaultRule {
  /** HTTP method to match, any when absent */
  method?: string;
  /** tested against the request's path and query */
  path: RegExp;
  fault: Fault;
  /** how many matching requests get the fault (default 1; Infinity for all) */
  times?: number;
  /** let this many matching requests through untouched first (default 0) */
  after?: number;
}

export interface FaultHandle {
  /** how many requests this rule has faulted so far */
  readonly hits: number;
  remove(): void;
}

export type RequestKind = "ping" | "manifest" | "blob" | "upload" | "tags" | "catalog" | "referrers" | "other";

export interface ProxiedRequest {
  method: string;
  path: string;
  kind: RequestKind;
  status?: number;
  /** the fault applied to it, if any */
  fault?: Fault["type"];
  /** response body bytes sent to the client */
  bytesOut: number;
  /** request body bytes received from the client */
  bytesIn: number;
  /** the request's Content-Range (chunked uploads) */
  contentRange?: string;
  /** the request's Range (resumed downloads) */
  range?: string;
}

export interface FaultProxyOptions {
  upstream: { host: string; scheme: "http" | "https"; caPem?: string };
  /** serve TLS to the client with this key and certificate (e.g. the registry's own, valid for 127.0.0.1) */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /**
   * Answer 401 (as distribution does, with its Bearer challenge and error="invalid_token") to a request whose
   * bearer JWT is past its `exp` claim. distribution 2.8 itself accepts tokens up to 60 s after `exp` (clock-skew
   * leeway), which would make an expiring-token test last over a minute; this enforces the token's own expiry.
   */
  enforceTokenExpiry?: boolean;
  /** Refuse a request whose Content-Length is above this with 413, as Cloudflare does above 100 MB. */
  maxBodyBytes?: number;
}

export interface FaultProxy {
  host: string;
  scheme: "http" | "https";
  origin: string;
  addFault(rule: FaultRule): FaultHandle;
  clearFaults(): void;
  /** counts by "<METHOD> <kind>", e.g. { "HEAD blob": 12, "PUT manifest": 3 } */
  counts(): Record<string, number>;
  requests(): ProxiedRequest[];
  /** client TCP connections accepted so far */
  connections(): number;
  /** requests refused because their bearer token was past its exp (with enforceTokenExpiry) */
  expiredTokens(): number;
  resetCounters(): void;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

export function classifyPath(path: string): RequestKind {
  const p = path.split("?")[0];
  if (p === "/v2/" || p === "/v2") return "ping";
  if (p === "/v2/_catalog") return "catalog";
  if (/^\/v2\/.+\/blobs\/uploads(\/|$)/.test(p)) return "upload";
  if (/^\/v2\/.+\/blobs\/[^/]+$/.test(p)) return "blob";
  if (/^\/v2\/.+\/manifests\/[^/]+$/.test(p)) return "manifest";
  if (/^\/v2\/.+\/tags\/list$/.test(p)) return "tags";
  if (/^\/v2\/.+\/referrers\/[^/]+$/.test(p)) return "referrers";
  return "other";
}

interface ActiveRule {
  rule: FaultRule;
  seen: number;
  hits: number;
  removed: boolean;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    function done(): void {
      if (timer) clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });

/** Counts bytes through it and applies body faults (reset / stall / corrupt / throttle) at byte positions. */
class FaultyBody extends Transform {
  count = 0;
  constructor(
    private readonly fault: Fault | undefined,
    private readonly signal: AbortSignal,
    private readonly onReset: () => void,
    private readonly corruptAt: number,
    /** Content-Length of the body when known: a reset is moved before the end of a shorter body */
    private readonly length?: number,
  ) {
    super();
  }

  /** Where a fault at `afterBytes` happens: before the last byte of a body that is not longer than that. */
  private position(afterBytes: number): number {
    return this.length !== undefined && this.length > 0 ? Math.min(afterBytes, this.length - 1) : afterBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    void this.handle(chunk).then(() => cb(), cb);
  }

  private async handle(chunk: Buffer): Promise<void> {
    const start = this.count;
    const f = this.fault;
    if (f?.type === "reset-response" || f?.type === "reset-request") {
      const at = this.position(f.afterBytes);
      if (start + chunk.length >= at) {
        const head = chunk.subarray(0, Math.max(0, at - start));
        if (head.length && f.type === "reset-response") this.push(head);
        this.count += head.length;
        // let the head reach the socket before cutting it
        await sleep(50, this.signal);
        this.onReset();
        throw new Error("fault-proxy: connection reset by fault");
      }
    } else if (f?.type === "stall" && f.afterBytes !== undefined) {
      const at = this.position(f.afterBytes);
      if (start <= at && start + chunk.length > at) {
        const cut = at - start;
        if (cut > 0) this.push(chunk.subarray(0, cut));
        await sleep(f.ms, this.signal);
        this.count += chunk.length;
        this.push(chunk.subarray(cut));
        return;
      }
    } else if (f?.type === "corrupt") {
      if (this.corruptAt >= start && this.corruptAt < start + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[this.corruptAt - start] ^= 0xff;
      }
    } else if (f?.type === "throttle") {
      await sleep((chunk.length / f.bytesPerSecond) * 1000, this.signal);
    }
    this.count += chunk.length;
    this.push(chunk);
  }
}

/** Whether an `Authorization: Bearer <JWT>` header carries a token whose exp claim has passed. */
function tokenExpired(authorization: string | undefined): boolean {
  const match = /^Bearer\s+[^.]+\.([^.]+)\./i.exec(authorization ?? "");
  if (!match) return false;
  try {
    const claims = JSON.parse(Buffer.from(match[1], "base64url").toString("utf8")) as { exp?: unknown };
    return typeof claims.exp === "number" && Date.now() / 1000 >= claims.exp;
  } catch {
    return false;
  }
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const upstreamOrigin = `${opts.upstream.scheme}://${opts.upstream.host}`;
  const dispatcher = new Agent({
    connect: opts.upstream.caPem ? { ca: opts.upstream.caPem } : {},
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 30_000,
  });
  const rules: ActiveRule[] = [];
  const records: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let expired = 0;
  let bearerChallenge: { realm: string; service: string } | undefined;
  const scheme: "http" | "https" = opts.tls ? "https" : "http";
  let origin = "";

  function pickFault(method: string, path: string): Fault | undefined {
    for (const r of rules) {
      if (r.removed) continue;
      if (r.rule.method && r.rule.method.toUpperCase() !== method) continue;
      if (!r.rule.path.test(path)) continue;
      r.seen++;
      if (r.seen <= (r.rule.after ?? 0)) continue;
      if (r.hits >= (r.rule.times ?? 1)) continue;
      r.hits++;
      return r.rule.fault;
    }
    return undefined;
  }

  function rewriteLocation(value: string): string {
    return value.startsWith(upstreamOrigin) ? origin + value.slice(upstreamOrigin.length) : value;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const path = req.url ?? "/";
    const record: ProxiedRequest = { method, path, kind: classifyPath(path), bytesIn: 0, bytesOut: 0 };
    if (typeof req.headers["content-range"] === "string") record.contentRange = req.headers["content-range"];
    if (typeof req.headers.range === "string") record.range = req.headers.range;
    records.push(record);
    const fault = pickFault(method, path);
    if (fault) record.fault = fault.type;
    const abort = new AbortController();
    const cutClient = (): void => {
      abort.abort();
      req.socket.destroy();
    };
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });

    if (fault?.type === "status") {
      req.resume();
      const body = JSON.stringify({
        errors: [{ code: fault.status === 429 ? "TOOMANYREQUESTS" : "UNKNOWN", message: "injected by fault-proxy" }],
      });
      const headers: http.OutgoingHttpHeaders = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
      if (fault.retryAfterSeconds !== undefined) headers["retry-after"] = String(fault.retryAfterSeconds);
      record.status = fault.status;
      res.writeHead(fault.status, headers);
      res.end(method === "HEAD" ? undefined : body);
      return;
    }
    if (fault?.type === "stall" && fault.afterBytes === undefined) {
      await sleep(fault.ms, abort.signal);
      if (abort.signal.aborted) return;
    }

    if (opts.enforceTokenExpiry && bearerChallenge && tokenExpired(req.headers.authorization)) {
      expired++;
      req.resume();
      const name = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\//.exec(path)?.[1];
      const actions = method === "GET" || method === "HEAD" ? "pull" : "pull,push";
      const scope = name ? `,scope="repository:${name}:${actions}"` : "";
      const body = JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] });
      record.status = 401;
      record.fault = "status";
      res.writeHead(401, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        "www-authenticate": `Bearer realm="${bearerChallenge.realm}",service="${bearerChallenge.service}"${scope},error="invalid_token"`,
      });
      res.end(method === "HEAD" ? undefined : body);
      return;
    }

    if (opts.maxBodyBytes !== undefined && Number(req.headers["content-length"] ?? 0) > opts.maxBodyBytes) {
      // read the body first so the client sees the answer rather than a write error
      req.on("data", (chunk: Buffer) => (record.bytesIn += chunk.length));
      req.once("end", () => {
        record.status = 413;
        res.writeHead(413, { "content-type": "text/html" }).end("<html><body>413 Request Entity Too Large</body></html>");
      });
      return;
    }

    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k) && !(k === "range" && fault?.type === "ignore-range")) headers[k] = v;
    }
    const hasBody = req.headers["content-length"] !== undefined ? req.headers["content-length"] !== "0" : req.headers["transfer-encoding"] !== undefined;
    const reqLength = req.headers["content-length"] !== undefined ? Number(req.headers["content-length"]) : undefined;
    const reqBody = new FaultyBody(fault?.type === "reset-request" ? fault : undefined, abort.signal, cutClient, -1, reqLength);
    let upstream: Awaited<ReturnType<typeof request>>;
    try {
      const bodyDone = hasBody ? pipeline(req, reqBody).catch(() => abort.abort()) : undefined;
      upstream = await request(upstreamOrigin + path, {
        method: method as "GET",
        headers,
        body: hasBody ? reqBody : undefined,
        dispatcher,
        signal: abort.signal,
      });
      await bodyDone;
      record.bytesIn = reqBody.count;
    } catch {
      record.bytesIn = reqBody.count;
      if (!res.headersSent && !req.socket.destroyed) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end("fault-proxy: upstream failed");
      } else req.socket.destroy();
      return;
    }
    record.status = upstream.statusCode;
    const challenge = upstream.headers["www-authenticate"];
    if (typeof challenge === "string" && /^bearer /i.test(challenge)) {
      const realm = /realm="([^"]*)"/.exec(challenge)?.[1];
      if (realm) bearerChallenge = { realm, service: /service="([^"]*)"/.exec(challenge)?.[1] ?? "" };
    }
    const outHeaders: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(upstream.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      outHeaders[k] = k === "location" && typeof v === "string" ? rewriteLocation(v) : v;
    }
    res.writeHead(upstream.statusCode, outHeaders);
    const length = Number(upstream.headers["content-length"] ?? 0);
    const corruptAt = fault?.type === "corrupt" ? (fault.atByte ?? Math.floor(length / 2)) : -1;
    const bodyFault = fault && fault.type !== "reset-request" ? fault : undefined;
    const out = new FaultyBody(bodyFault, abort.signal, cutClient, corruptAt, upstream.headers["content-length"] !== undefined ? length : undefined);
    try {
      await pipeline(upstream.body, out, res);
    } catch {
      req.socket.destroy();
    } finally {
      record.bytesOut = out.count;
    }
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch(() => req.socket.destroy());
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : http.createServer(onRequest);
  server.keepAliveTimeout = 30_000;
  server.requestTimeout = 0;
  server.on(opts.tls ? "secureConnection" : "connection", (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = `127.0.0.1:${port}`;
  origin = `${scheme}://${host}`;

  return {
    host,
    scheme,
    origin,
    addFault(rule) {
      const active: ActiveRule = { rule, seen: 0, hits: 0, removed: false };
      rules.push(active);
      return {
        get hits() {
          return active.hits;
        },
        remove() {
          active.removed = true;
        },
      };
    },
    clearFaults() {
      for (const r of rules) r.removed = true;
      rules.length = 0;
    },
    counts() {
      const out: Record<string, number> = {};
      for (const r of records) {
        const key = `${r.method} ${r.kind}`;
        out[key] = (out[key] ?? 0) + 1;
      }
      return out;
    },
    requests: () => records.slice(),
    connections: () => connections,
    expiredTokens: () => expired,
    resetCounters() {
      records.length = 0;
      connections = 0;
      expired = 0;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dispatcher.close().catch(() => undefined);
    },
  };
}
