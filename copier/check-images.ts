// Whether each full image reference exists in its registry (manifest HEAD), for the switch stage to check the
// new registry before changing anything.

import { Pool } from "./pool";
import { parseImageReference } from "./reference";
import { RepositoryClient } from "./registry/client";
import { pullScope } from "./transport/auth";
import type { ProxySettings } from "./transport/proxy";
import { redact } from "./transport/redact";
import { RegistryTransport } from "./transport/transport";

export interface ExistenceResult {
  reference: string;
  exists: boolean;
  digest?: string;
  error?: string;
}

export interface RegistryAccess {
  username?: string;
  password?: string;
  insecure?: boolean;
  ca?: string;
  /** The environment's proxy (proxySettingsFromEnv); direct without it. */
  proxy?: ProxySettings;
}

export async function checkImagesExist(
  references: string[],
  access: RegistryAccess,
  opts: { concurrency?: number } = {},
): Promise<ExistenceResult[]> {
  const pool = new Pool(opts.concurrency ?? 8);
  const transports = new Map<string, RegistryTransport>();
  const transportFor = (registry: string) => {
    let t = transports.get(registry);
    if (!t) {
      t = new RegistryTransport(registry, {
        username: access.username || undefined,
        password: access.password || undefined,
        insecure: access.insecure,
        ca: access.ca,
        proxy: access.proxy,
        connections: (opts.concurrency ?? 8) + 2,
      });
      transports.set(registry, t);
    }
    return t;
  };
  try {
    return await Promise.all(
      references.map((reference) =>
        pool.run(async (): Promise<ExistenceResult> => {
          try {
            const ref = parseImageReference(reference);
            const value = ref.digest ?? ref.tag;
            if (!value) return { reference, exists: false, error: `${reference}: no tag or digest` };
            const client = new RepositoryClient(transportFor(ref.registry), ref.repository, [pullScope(ref.repository)]);
            const digest = await client.headManifest(value);
            if (!digest) return { reference, exists: false };
            if (ref.digest && digest !== ref.digest) return { reference, exists: false, digest, error: `${reference}: registry reports digest ${digest}` };
            return { reference, exists: true, digest };
          } catch (err) {
            return { reference, exists: false, error: redact((err as Error).message) };
          }
        }),
      ),
    );
  } finally {
    await Promise.all([...transports.values()].map((t) => t.close()));
  }
}
