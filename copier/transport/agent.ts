// The one undici dispatcher per registry: keep-alive connections, TLS verification with an optional extra CA,
// timeouts for stalled servers (headers and body), a bounded number of sockets, and the environment's proxy.

import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { X509Certificate } from "node:crypto";
import { Agent, DispatcherBase, ProxyAgent, type Dispatcher } from "./undici";
import { ProxyRoutes, type ProxySettings } from "./proxy";

export interface AgentOptions {
  ca?: string;
  connections: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
  /** From HTTPS_PROXY / HTTP_PROXY / NO_PROXY; requests go direct without it. */
  proxy?: ProxySettings;
}

export const DEFAULT_TIMEOUTS = { headersTimeoutMs: 120_000, bodyTimeoutMs: 120_000, connectTimeoutMs: 15_000 };

/** Throws a clear error when `pem` holds no readable certificate. */
export function checkCaPem(pem: string, what: string): void {
  if (!/-----BEGIN CERTIFICATE-----/.test(pem)) throw new Error(`${what}: "ca" is not a PEM certificate`);
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new Error(`${what}: "ca" is not a readable PEM certificate (${(err as Error).message})`);
  }
}

/**
 * A TLS context trusting the default roots and `ca` (Node's `ca` option alone would replace the roots). Adding the
 * CA to a default context copies the roots Node has already parsed; passing every root through the `ca` option
 * parses them all again, 40-80 ms of a run here. Falls back to that where the native context is not reachable.
 */
function rootsPlus(ca: string): SecureContext {
  const context = createSecureContext();
  const native = (context as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert !== "function") return createSecureContext({ ca: [...rootCertificates, ca] });
  native.addCACert(ca);
  return context;
}

export function createAgent(opts: AgentOptions): Dispatcher {
  // One secure context for all connections: building one per connection cost more CPU than the copy.
  const tls = opts.ca ? { secureContext: rootsPlus(opts.ca) } : {};
  const pool = {
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: opts.connections,
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
  };
  const connect = { timeout: opts.connectTimeoutMs, noDelay: true, ...tls };
  const direct = new Agent({ ...pool, connect });
  const routes = opts.proxy && new ProxyRoutes(opts.proxy);
  if (!routes) return direct;
  const proxies = new Map<string, ProxyAgent>();
  // Plain-http registries are reached through a CONNECT tunnel too, so one proxy path serves both schemes.
  const viaProxy = (uri: string) => {
    let agent = proxies.get(uri);
    if (!agent) {
      agent = new ProxyAgent({ ...pool, uri, requestTls: connect, proxyTls: { timeout: opts.connectTimeoutMs } });
      proxies.set(uri, agent);
    }
    return agent;
  };
  return new ProxyRouter((origin) => {
    const proxy = routes.proxyFor(origin);
    return proxy ? viaProxy(proxy) : direct;
  }, () => [direct, ...proxies.values()]);
}

/** Sends each request direct or through a proxy by its origin (a redirect to blob storage may take another path). */
class ProxyRouter extends DispatcherBase {
  constructor(
    private readonly route: (origin: URL) => Dispatcher,
    private readonly all: () => Dispatcher[],
  ) {
    super();
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.route(new URL(String(options.origin))).dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all(this.all().map((d) => d.close())).then(() => undefined);
    if (!callback) return done;
    void done.then(callback, callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === "function" ? null : (errOrCallback ?? null);
    const cb = typeof errOrCallback === "function" ? errOrCallback : callback;
    const done = Promise.all(this.all().map((d) => d.destroy(err))).then(() => undefined);
    if (!cb) return done;
    void done.then(cb, cb);
  }
}
