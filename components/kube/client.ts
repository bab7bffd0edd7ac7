// A small Kubernetes REST client on undici: the one used by every dynamic provider of this project.
import type { Dispatcher } from "undici";
import { resolveAccess, type KubeAccess, type ResolvedAccess } from "./access";

export interface KubeClient {
  /** The kubeconfig's name of the user this client authenticates as. */
  readonly user: string;
  /** The object at `path`, or undefined on 404. */
  get<T = unknown>(path: string): Promise<T | undefined>;
  list<T = unknown>(path: string, query?: Record<string, string>): Promise<{ items: T[]; metadata: { resourceVersion?: string } }>;
  create<T = unknown>(path: string, body: unknown, query?: Record<string, string>): Promise<T>;
  /** Defaults to a JSON merge patch; pass another content type for strategic-merge or apply patches. */
  patch<T = unknown>(path: string, body: unknown, contentType?: string, query?: Record<string, string>): Promise<T>;
  /** A 404 is fine: the object is gone either way. With `preconditions.uid` only that very object is deleted: a
   *  newer object of the same name makes the API server answer 409 (a KubeApiError). */
  delete(path: string, query?: Record<string, string>, options?: { preconditions?: { uid?: string } }): Promise<void>;
  /**
   * The user a write of the object at `path` (with `body`, for a create or an apply) is sent as: the impersonated
   * user when impersonation is set and the object (live, or the body) is labelled `heritage: deckhouse`, else
   * undefined (the kubeconfig's user). Reads the live object's labels as the kubeconfig's user.
   */
  writeAs(path: string, body?: unknown): Promise<string | undefined>;
  /** Streams watch events until the server ends the stream, the signal aborts or the connection drops (then rejects). */
  watch(path: string, query: Record<string, string>, onEvent: (type: string, object: any) => void, signal: AbortSignal): Promise<void>;
  logs(namespace: string, pod: string, query?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

/** A non-2xx answer from the API server, with the Status message it carried (never the request's body). */
export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number,
    readonly reason: string,
    /** The impersonated user the request was sent as; undefined: the kubeconfig's own user. */
    readonly as?: string,
  ) {
    const message = `Kubernetes API ${method} ${path}${as ? ` (as ${as})` : ""}: ${statusCode} ${reason}`;
    super(message);
    // Set here, not as class fields or by super() alone: Pulumi's closure serialization (every dynamic provider)
    // turns a class into a constructor function that calls Error without `new` and drops class fields.
    this.name = "KubeApiError";
    this.message = message;
    this.as = as;
  }
}

/** Whether an error is the API server's answer with this status code. By name, not instanceof: a closure-serialized
 *  provider may carry its own copy of the class. */
export function isKubeStatus(error: unknown, statusCode: number): boolean {
  const e = error as { name?: string; statusCode?: number } | undefined;
  return e?.name === "KubeApiError" && e.statusCode === statusCode;
}

const REQUEST_TIMEOUT_MS = 60_000;

/** The label Deckhouse gives its own objects; from v1.62 its admission policy refuses other users' writes of them. */
export const DECKHOUSE_HERITAGE = { key: "heritage", value: "deckhouse" } as const;

/** Whether an object (a live one, or a request body) carries `heritage: deckhouse`. */
export function isDeckhouseObject(object: unknown): boolean {
  const labels = (object as { metadata?: { labels?: Record<string, unknown> } } | undefined)?.metadata?.labels;
  return labels?.[DECKHOUSE_HERITAGE.key] === DECKHOUSE_HERITAGE.value;
}

/** `/api/v1/namespaces/ns/secrets` (a collection) vs `/api/v1/namespaces/ns/secrets/name` (an object). */
function isCollectionPath(path: string): boolean {
  const parts = path.split("/").filter(Boolean);
  const rest = parts[0] === "api" ? parts.slice(2) : parts.slice(3);
  return rest[0] === "namespaces" ? rest.length === 3 : rest.length === 1;
}

function withQuery(path: string, query?: Record<string, string>): string {
  if (!query || Object.keys(query).length === 0) return path;
  return `${path}${path.includes("?") ? "&" : "?"}${new URLSearchParams(query).toString()}`;
}

async function errorReason(body: Dispatcher.ResponseData["body"]): Promise<string> {
  const text = await body.text().catch(() => "");
  try {
    const status = JSON.parse(text) as { message?: unknown; reason?: unknown };
    if (typeof status.message === "string") return status.message;
    if (typeof status.reason === "string") return status.reason;
  } catch {
    // not a Status object
  }
  return text.slice(0, 300);
}

export async function connectKube(access: KubeAccess): Promise<KubeClient> {
  const { Agent, request } = require("undici") as typeof import("undici");
  const resolved: ResolvedAccess = await resolveAccess(access);
  const agent = new Agent({
    connect: {
      ca: resolved.tls.ca,
      cert: resolved.tls.cert,
      key: resolved.tls.key,
      rejectUnauthorized: resolved.tls.rejectUnauthorized,
      servername: resolved.tls.servername,
    },
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: 0,
  });

  async function call(method: Dispatcher.HttpMethod, path: string, opts: { body?: unknown; contentType?: string; accept?: string; signal?: AbortSignal; as?: string } = {}) {
    const headers: Record<string, string> = { accept: opts.accept ?? "application/json", ...(await resolved.headers()) };
    if (opts.as) headers["impersonate-user"] = opts.as;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["content-type"] = opts.contentType ?? "application/json";
    }
    return request(`${resolved.server}${path}`, {
      method,
      headers,
      body,
      dispatcher: agent,
      signal: opts.signal,
      bodyTimeout: opts.signal ? 0 : REQUEST_TIMEOUT_MS,
    });
  }

  async function json<T>(method: Dispatcher.HttpMethod, path: string, opts: { body?: unknown; contentType?: string; allow404?: boolean; as?: string } = {}): Promise<T | undefined> {
    const res = await call(method, path, opts);
    if (res.statusCode === 404 && opts.allow404) {
      await res.body.dump();
      return undefined;
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw new KubeApiError(method, path, res.statusCode, await errorReason(res.body), opts.as);
    return (await res.body.json()) as T;
  }

  const impersonate = access.impersonate || undefined;
  /** Only Deckhouse's own objects are written as the impersonated user: the rest (ours) stay the user's. */
  async function writeAs(path: string, body?: unknown): Promise<string | undefined> {
    if (!impersonate) return undefined;
    if (isDeckhouseObject(body)) return impersonate;
    // A collection path (a create) has no live object: the body alone decides.
    const objectPath = path.split("?")[0];
    if (body !== undefined && isCollectionPath(objectPath)) return undefined;
    try {
      return isDeckhouseObject(await json("GET", objectPath, { allow404: true })) ? impersonate : undefined;
    } catch (error) {
      // A user that may write an object without reading it: its write goes as the user, as without impersonation.
      if (isKubeStatus(error, 403)) return undefined;
      throw error;
    }
  }

  return {
    user: resolved.user,
    writeAs,
    get: (path) => json("GET", path, { allow404: true }),
    async list(path, query) {
      const result = await json<{ items?: unknown[]; metadata?: { resourceVersion?: string } }>("GET", withQuery(path, query));
      return { items: (result?.items ?? []) as never[], metadata: result?.metadata ?? {} };
    },
    create: async (path, body, query) => (await json("POST", withQuery(path, query), { body, as: isDeckhouseObject(body) ? impersonate : undefined })) as never,
    patch: async (path, body, contentType, query) =>
      (await json("PATCH", withQuery(path, query), { body, contentType: contentType ?? "application/merge-patch+json", as: await writeAs(path, body) })) as never,
    async delete(path, query, options) {
      const body = options ? { apiVersion: "v1", kind: "DeleteOptions", ...options } : undefined;
      await json("DELETE", withQuery(path, query), { allow404: true, body, as: await writeAs(path) });
    },
    async watch(path, query, onEvent, signal) {
      const watchPath = withQuery(path, { ...query, watch: "1" });
      const res = await call("GET", watchPath, { signal });
      if (res.statusCode !== 200) throw new KubeApiError("WATCH", path, res.statusCode, await errorReason(res.body));
      let buffered = "";
      for await (const chunk of res.body) {
        buffered += chunk.toString("utf8");
        let newline: number;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line) as { type?: string; object?: unknown };
          if (typeof event.type === "string") onEvent(event.type, event.object);
        }
      }
    },
    async logs(namespace, pod, query) {
      const path = withQuery(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`, query);
      const res = await call("GET", path, { accept: "text/plain" });
      if (res.statusCode === 404) {
        await res.body.dump();
        return "";
      }
      if (res.statusCode !== 200) throw new KubeApiError("GET", path, res.statusCode, await errorReason(res.body));
      return res.body.text();
    },
    close: () => agent.close(),
  };
}

/** Runs `work` with a client for `access`, closed afterwards whatever happens. */
export async function withKube<T>(access: KubeAccess, work: (kube: KubeClient) => Promise<T>): Promise<T> {
  const kube = await connectKube(access);
  try {
    return await work(kube);
  } finally {
    await kube.close();
  }
}
