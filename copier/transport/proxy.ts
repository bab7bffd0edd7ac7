// Which proxy, if any, carries a request: HTTPS_PROXY for https, HTTP_PROXY for http; NO_PROXY exempts hosts,
// domains with their subdomains, IP addresses and CIDR ranges (optionally with a port); loopback is never proxied.
// These are Go's rules (docker, skopeo, containerd, kubectl), so one environment sends all of them the same way.

import { BlockList, isIP } from "node:net";
import * as z from "zod";

export interface ProxySettings {
  /** Proxy URL for plain-http registries. */
  httpProxy?: string;
  /** Proxy URL for https registries. */
  httpsProxy?: string;
  /** Comma- or space-separated exemptions, as in NO_PROXY. */
  noProxy?: string;
}

export class ProxyConfigError extends Error {
  override name = "ProxyConfigError";
}

const proxyUrl = z
  .string()
  .transform((value) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`))
  .pipe(z.url({ protocol: /^https?$/, hostname: /./ }));

/** Reads HTTPS_PROXY / HTTP_PROXY / NO_PROXY (upper case first, then lower); undefined when no proxy is set. */
export function proxySettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings | undefined {
  const read = (name: string) => (env[name] ?? env[name.toLowerCase()])?.trim() || undefined;
  const parse = (name: string): string | undefined => {
    const value = read(name);
    if (value === undefined) return undefined;
    const parsed = proxyUrl.safeParse(value);
    // The value is never echoed: a proxy URL may carry a password.
    if (!parsed.success) throw new ProxyConfigError(`${name} is not a usable proxy URL (expected http://[user:password@]host:port)`);
    return parsed.data;
  };
  const httpProxy = parse("HTTP_PROXY");
  const httpsProxy = parse("HTTPS_PROXY");
  if (!httpProxy && !httpsProxy) return undefined;
  return { httpProxy, httpsProxy, noProxy: read("NO_PROXY") };
}

/** A proxy URL shown without its credentials. */
export function describeProxy(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

interface DomainRule {
  domain: string;
  port?: number;
}

/** Decides per request URL which proxy (if any) to use. */
export class ProxyRoutes {
  private readonly everything: boolean;
  private readonly domains: DomainRule[] = [];
  private readonly addresses = new BlockList();
  private readonly addressPorts: Array<{ list: BlockList; port: number }> = [];

  constructor(readonly settings: ProxySettings) {
    const entries = (settings.noProxy ?? "").split(/[\s,]+/).filter(Boolean);
    this.everything = entries.includes("*");
    for (const entry of entries) this.addExemption(entry.toLowerCase());
  }

  /** The proxy URL for `url`, or undefined to connect directly. */
  proxyFor(url: URL): string | undefined {
    const proxy = url.protocol === "https:" ? this.settings.httpsProxy : url.protocol === "http:" ? this.settings.httpProxy : undefined;
    if (!proxy || this.everything) return undefined;
    const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
    const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
    return this.exempt(host, port) ? undefined : proxy;
  }

  private exempt(host: string, port: number): boolean {
    if (host === "localhost" || host.endsWith(".localhost")) return true;
    const family = isIP(host);
    if (family) {
      const type = family === 4 ? "ipv4" : "ipv6";
      if (LOOPBACK.check(host, type)) return true;
      if (this.addresses.check(host, type)) return true;
      return this.addressPorts.some((rule) => rule.port === port && rule.list.check(host, type));
    }
    return this.domains.some((rule) => (rule.port === undefined || rule.port === port) && (host === rule.domain || host.endsWith(`.${rule.domain}`)));
  }

  private addExemption(entry: string): void {
    if (entry === "*") return;
    const [address, prefix] = entry.split("/");
    if (prefix !== undefined) {
      const family = isIP(address);
      const bits = Number(prefix);
      if (family && /^\d+$/.test(prefix) && bits <= (family === 4 ? 32 : 128)) this.addresses.addSubnet(address, bits, family === 4 ? "ipv4" : "ipv6");
      return; // an unreadable range exempts nothing, as in Go
    }
    const bare = entry.replace(/^\[|\]$/g, "");
    if (isIP(bare)) {
      this.addresses.addAddress(bare, isIP(bare) === 4 ? "ipv4" : "ipv6");
      return;
    }
    const withPort = /^(.+?):(\d+)$/.exec(entry);
    const host = (withPort ? withPort[1] : entry).replace(/^\[|\]$/g, "");
    const port = withPort ? Number(withPort[2]) : undefined;
    if (isIP(host) && port !== undefined) {
      const list = new BlockList();
      list.addAddress(host, isIP(host) === 4 ? "ipv4" : "ipv6");
      this.addressPorts.push({ list, port });
      return;
    }
    const domain = host.replace(/^\*?\./, "");
    if (domain) this.domains.push({ domain, port });
  }
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");
