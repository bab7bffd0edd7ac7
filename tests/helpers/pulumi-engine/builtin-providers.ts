// Resources the engine answers itself: `pulumi:pulumi:StackReference` (from a fixture of the other stacks'
// outputs) and provider resources (`pulumi:providers:<pkg>`, e.g. an explicit `new k8s.Provider`).
import { randomUUID } from "node:crypto";
import type { EngineProvider } from "./engine-provider";
import { changedKeys, isObject, secret, stripSecrets, type PropertyMap } from "./property-values";

export interface StackOutputsFixture {
  outputs: Record<string, unknown>;
  /** Outputs the referenced stack holds as secrets: handed to the program secret-marked. */
  secretOutputNames?: string[];
}

const unsupported = (what: string) => async (): Promise<never> => {
  throw new Error(what);
};

export function stackReferenceProvider(stacks: Record<string, StackOutputsFixture>): EngineProvider {
  function outputsOf(name: string): PropertyMap {
    const stack = stacks[name];
    if (!stack) throw new Error(`unknown stack "${name}" (the harness's stackReferences fixture has: ${Object.keys(stacks).join(", ") || "none"})`);
    const secretNames = stack.secretOutputNames ?? [];
    const outputs = Object.fromEntries(Object.entries(stack.outputs).map(([k, v]) => [k, secretNames.includes(k) ? secret(v) : v]));
    return { name, outputs, secretOutputNames: secretNames };
  }
  return {
    check: async (_goal, _olds, news) => news,
    diff: async () => ({ changes: false, replaces: [], deleteBeforeReplace: false }),
    create: unsupported("a StackReference is read, never created"),
    update: unsupported("a StackReference is read, never updated"),
    read: async (_goal, id) => ({ id, outputs: outputsOf(id) }),
    delete: async () => undefined,
  };
}

/**
 * Provider resources: recorded with their inputs, a fresh id each create, an update when the inputs change.
 * The Kubernetes provider's `kubeconfig` is kept secret (its schema marks it secret).
 */
export function providerResourceProvider(): EngineProvider {
  const markKnownSecrets = (type: string, props: PropertyMap): PropertyMap => {
    if (type !== "pulumi:providers:kubernetes" || props.kubeconfig === undefined) return props;
    return { ...props, kubeconfig: secret(props.kubeconfig) };
  };
  return {
    check: async (goal, _olds, news) => markKnownSecrets(goal.type, news),
    diff: async (_goal, old, news) => {
      const keys = changedKeys(stripSecrets(old.inputs), stripSecrets(news));
      return { changes: keys.length > 0, replaces: [], deleteBeforeReplace: false, keys };
    },
    create: async (goal, news) => ({ id: randomUUID(), outputs: markKnownSecrets(goal.type, { ...news }) }),
    update: async (goal, _old, news) => markKnownSecrets(goal.type, { ...news }),
    read: async (_goal, id, old) => (old && isObject(old.outputs) ? { id, outputs: old.outputs } : undefined),
    delete: async () => undefined,
  };
}
