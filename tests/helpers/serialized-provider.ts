// What the Pulumi engine and the dynamic provider host do with a resource's `__provider`: serialize the provider
// with its closure, then evaluate that text in a fresh module. Tests run the revived provider, not the original.
import * as pulumi from "@pulumi/pulumi";

const requireFromString = require("require-from-string") as (code: string) => { handler: () => unknown };

export interface Serialized<T> {
  provider: T;
  text: string;
  containsSecrets: boolean;
}

export async function serializeAndRevive<T>(provider: T): Promise<Serialized<T>> {
  const serialized = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  return { provider: requireFromString(serialized.text).handler() as T, text: serialized.text, containsSecrets: serialized.containsSecrets };
}

/** What the engine does before a provider's first call: configure it with the stack's config (namespaced keys). */
export async function configureProvider(provider: pulumi.dynamic.ResourceProvider, config: Record<string, string>): Promise<void> {
  const get = (key: string) => config[key];
  await provider.configure?.({ config: { get, require: (key: string) => get(key) ?? "" } } as unknown as pulumi.dynamic.ConfigureRequest);
}
