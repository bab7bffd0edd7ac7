// The one undici Agent per registry: keep-alive connections, TLS verification with an optional extra CA, timeouts
// for stalled servers (headers and body), and a bounded number of sockets.

import * as tls from "node:tls";
import { X509Certificate } from "node:crypto";
import { Agent } from "./undici";

export interface AgentOptions {
  ca?: string;
  connections: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
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

export function createAgent(opts: AgentOptions): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: opts.connections,
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
    connect: {
      timeout: opts.connectTimeoutMs,
      noDelay: true,
      // Node's `ca` replaces the default roots; keep them and add the custom one. One secure context for all
      // connections: building it parses every root certificate, which per connection cost more CPU than the copy.
      ...(opts.ca ? { secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, opts.ca] }) } : {}),
    },
  });
}
