// Every `pulumi-nodejs:dynamic:*` (or, with a module, `pulumi-nodejs:dynamic/<module>:*`) resource goes to the real dynamic-provider host, with the engine's secret rules:
// secrets stripped on the way in (the host accepts none), outputs marked secret again by input name or
// `additionalSecretOutputs`, refresh as Read(id, old outputs) without inputs, Delete with the state's `__provider`.
import { DynamicProviderHost, ResourceInitError } from "./dynamic-host";
import { InitFailure, type DiffResult, type EngineProvider, type ResourceGoal } from "./engine-provider";
import { markSecrets, stripSecrets, type PropertyMap } from "./property-values";
import type { ResourceState } from "./state";

/** A dynamic resource's type: package `pulumi-nodejs`, module `dynamic` or `dynamic/<module>` (dynamic.Resource's 5th argument). */
export function isDynamicType(type: string): boolean {
  return /^pulumi-nodejs:dynamic(\/[^:]+)?:/.test(type);
}

export function dynamicProvider(host: () => Promise<DynamicProviderHost>): EngineProvider {
  const target = (goal: ResourceGoal) => ({ urn: goal.urn, type: goal.type, name: goal.name });

  async function guarded<T>(goal: ResourceGoal, marks: PropertyMap, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (error instanceof ResourceInitError) {
        throw new InitFailure(error.message, error.id, markSecrets(error.properties, marks, goal.additionalSecretOutputs), error.reasons);
      }
      throw error;
    }
  }

  return {
    async check(goal, olds, news) {
      const result = await (await host()).check(target(goal), stripSecrets(olds ?? {}), stripSecrets(news));
      if (result.failures.length > 0) {
        throw new Error(`${goal.urn}: check failed: ${result.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
      }
      return markSecrets(result.inputs, news);
    },

    async diff(goal, old: ResourceState, news): Promise<DiffResult> {
      return (await host()).diff(target(goal), old.id ?? "", stripSecrets(old.outputs), stripSecrets(news), stripSecrets(old.inputs));
    },

    async create(goal, news) {
      const h = await host();
      const { id, outputs } = await guarded(goal, news, () => h.create(target(goal), stripSecrets(news)));
      return { id, outputs: markSecrets(outputs, news, goal.additionalSecretOutputs) };
    },

    async update(goal, old, news) {
      const h = await host();
      const outputs = await guarded(goal, news, () => h.update(target(goal), old.id ?? "", stripSecrets(old.outputs), stripSecrets(news), stripSecrets(old.inputs)));
      return markSecrets(outputs, news, goal.additionalSecretOutputs);
    },

    async read(goal, id, old, props) {
      const h = await host();
      const result = await h.read(target(goal), id, stripSecrets(old?.outputs ?? props));
      if (!result.id) return undefined;
      const reference = old?.outputs ?? props;
      return {
        id: result.id,
        outputs: markSecrets(result.outputs, reference, goal.additionalSecretOutputs),
        ...(result.inputs ? { inputs: markSecrets(result.inputs, old?.inputs ?? {}) } : {}),
      };
    },

    async delete(goal, old) {
      await (await host()).delete(target(goal), old.id ?? "", stripSecrets(old.outputs), stripSecrets(old.inputs));
    },
  };
}
