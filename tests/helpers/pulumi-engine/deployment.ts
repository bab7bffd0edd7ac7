// The engine's step decisions for one run, simplified (see docs/testing.md):
// - preview/up: a registration is checked, then created (no old state), or diffed against the old state and kept
//   (same), updated, or replaced. A replacement creates the new one and deletes the old one at the end, unless the
//   provider or the resource asks for deleteBeforeReplace: then, as the real step generator does
//   (pulumi/pulumi pkg/resource/deploy/step_generator.go, calculateDependentReplacements), the old state's
//   dependents that would be replaced by the change (a provider in the replace set, or a Diff with the inputs that
//   depend on the replace set made unknown says replace) are deleted first, in reverse dependency order, then the
//   resource itself, all before anything is created; a dependent deleted so is re-created (a replace) when it
//   registers. A resource left with initialization errors is updated even when its diff says nothing changed.
//   `ignoreChanges` and `replaceOnChanges` work on top-level keys only; `replaceOnChanges` applies only when the
//   provider names the changed keys (the dynamic-provider host never does). No aliases, imports or transforms.
// - In preview nothing is created, updated or deleted: the outputs of a new or changed resource are its inputs.
// - After the program ends (up), resources it no longer declares are deleted, in reverse state order.
// - The first failing step fails the run: that registration and every later one is answered UNAVAILABLE (as the
//   real engine's monitor does once it shuts down); nothing else is deleted; the state keeps what was done.
//   An interrupted run (`interrupt()`, Ctrl-C) ends the same way; a create still in flight is not in the state
//   (the real engine records it as a pending operation that the next refresh clears).
// - refresh: Read(id, old outputs) for every custom resource, then Diff(refreshed outputs, old inputs) for dynamic
//   ones; a resource that is gone leaves the state. destroy: every resource in reverse state order (dependents
//   before their dependencies, children before parents); retainOnDelete skips the provider, protect fails.
import { isDynamicType } from "./dynamic-provider";
import { InitFailure, type DiffResult, type EngineProvider, type ResourceGoal } from "./engine-provider";
import { changedKeys, clone, isSecret, secret, UNKNOWN, type PropertyMap } from "./property-values";
import type { ResourceState, StackState, Step } from "./state";

export interface Registration {
  type: string;
  name: string;
  parent?: string;
  custom: boolean;
  remote: boolean;
  inputs: PropertyMap;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  deleteBeforeReplace: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  additionalSecretOutputs: string[];
  retainOnDelete?: boolean;
  protect?: boolean;
  importId?: string;
  /** An explicit provider reference (`urn::id`); empty: the package's default provider. */
  provider?: string;
  /** The package version the SDK asked for (names the default provider). */
  version?: string;
}

export interface ReadRegistration {
  type: string;
  name: string;
  id: string;
  parent?: string;
  inputs: PropertyMap;
  dependencies: string[];
  additionalSecretOutputs: string[];
  provider?: string;
  version?: string;
}

/** Thrown at registrations after the run failed: answered UNAVAILABLE, as a shut-down monitor answers. */
export class DeploymentCancelled extends Error {
  constructor() {
    super("resource monitor shut down while waiting on step's done channel");
  }
}

/** The configuration of the provider a resource names (`urn::id`): the provider resource's inputs. */
export interface ProviderConfig {
  ref: string;
  inputs: PropertyMap;
}

/** The provider of a type, configured as the resource's provider resource says (undefined: none recorded). */
export type ProviderLookup = (type: string, config?: ProviderConfig) => EngineProvider;

/** The inputs of the provider resource `ref` names, from the given resources. */
export function providerConfigOf(ref: string | undefined, find: (urn: string) => ResourceState | undefined): ProviderConfig | undefined {
  if (!ref) return undefined;
  const urn = ref.slice(0, ref.lastIndexOf("::"));
  const state = find(urn);
  return state ? { ref, inputs: state.inputs } : undefined;
}

/** A package's stack config (`kubernetes:kubeconfig` -> `kubeconfig`), secret-marked as set: a default provider's inputs. */
export type PackageConfig = (pkg: string) => PropertyMap;

const STACK_TYPE = "pulumi:pulumi:Stack";

export function urnOf(stack: string, project: string, type: string, name: string, parent?: string): string {
  let qualified = type;
  if (parent) {
    const parentType = parent.split("::")[2];
    if (parentType && !parentType.endsWith(STACK_TYPE)) qualified = `${parentType}$${type}`;
  }
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

function goalOf(state: Pick<ResourceState, "urn" | "type" | "name" | "additionalSecretOutputs">): ResourceGoal {
  return { urn: state.urn, type: state.type, name: state.name, additionalSecretOutputs: state.additionalSecretOutputs };
}

export class Deployment {
  readonly steps: Step[] = [];
  /** The provider operations in the order they ran: `create <name>`, `update <name>`, `delete <name>`. */
  readonly operations: string[] = [];
  /** The first failure's whole message (a provider's error can carry a log tail on later lines). */
  failure?: string;
  stackOutputs: PropertyMap = {};
  private readonly registered = new Map<string, ResourceState>();
  private readonly old: Map<string, ResourceState>;
  private readonly pendingDeletes: ResourceState[] = [];
  private readonly deleted = new Set<string>();
  private readonly defaultProviders = new Map<string, Promise<string>>();
  /** Dependents deleted ahead of a delete-before-replace, with the keys that made them go. */
  private readonly dependentReplaceKeys = new Map<string, string[]>();
  private interrupted?: () => void;
  private readonly interruption = new Promise<never>((_, reject) => {
    this.interrupted = () => reject(new DeploymentCancelled());
  });
  private rootUrn?: string;

  constructor(
    private readonly opts: {
      preview: boolean;
      stack: string;
      project: string;
      old: StackState;
      providerFor: ProviderLookup;
      packageConfig: PackageConfig;
      /** `destroy --run-program` / `refresh --run-program`: the program runs only so that its providers are
       *  configured as it says now; nothing else is created or changed (step_generator.go destroyMode). */
      programFor?: "destroy" | "refresh";
    },
  ) {
    this.old = new Map(opts.old.resources.map((r) => [r.urn, r]));
  }

  /** Records the run's failure; the registration is answered as the real monitor answers once it shuts down. */
  private fail(error: unknown, step?: Step): never {
    if (step) step.failed = true;
    this.failure ??= error instanceof Error ? error.message : String(error);
    throw new DeploymentCancelled();
  }

  /** Ctrl-C: the run stops; what is in flight is abandoned (its result never reaches the state). */
  interrupt(): void {
    this.failure ??= "update canceled (interrupted)";
    this.interrupted?.();
  }

  /** A provider call that an interruption abandons. */
  private async call<T>(what: string, promise: Promise<T>): Promise<T> {
    this.interruption.catch(() => undefined);
    this.operations.push(what);
    return Promise.race([promise, this.interruption]);
  }

  private record(step: Step): Step {
    this.steps.push(step);
    return step;
  }

  setRoot(urn: string): void {
    this.rootUrn = urn;
  }

  async register(reg: Registration): Promise<{ urn: string; id?: string; outputs: PropertyMap }> {
    if (this.failure) throw new DeploymentCancelled();
    const urn = urnOf(this.opts.stack, this.opts.project, reg.type, reg.name, reg.parent);
    if (this.registered.has(urn)) this.fail(new Error(`Duplicate resource URN '${urn}'; try giving it a unique name`));
    const old = this.old.get(urn);
    const base: ResourceState = {
      urn,
      type: reg.type,
      name: reg.name,
      custom: reg.custom,
      ...(reg.parent ? { parent: reg.parent } : {}),
      inputs: reg.inputs,
      outputs: {},
      dependencies: reg.dependencies,
      propertyDependencies: reg.propertyDependencies,
      additionalSecretOutputs: reg.additionalSecretOutputs,
      ...(reg.retainOnDelete ? { retainOnDelete: true } : {}),
      ...(reg.protect ? { protect: true } : {}),
      ...(reg.deleteBeforeReplace ? { deleteBeforeReplace: true } : {}),
    };
    if (reg.type === STACK_TYPE && !reg.parent) this.rootUrn ??= urn;

    if (!reg.custom) {
      const keys = old ? changedKeys(old.inputs, reg.inputs) : [];
      this.record({ op: !old ? "create" : keys.length > 0 ? "update" : "same", urn, type: reg.type, keys });
      this.registered.set(urn, { ...base, outputs: old?.outputs ?? {} });
      return { urn, outputs: {} };
    }
    if (reg.remote) this.fail(new Error(`${urn}: multi-language components are not supported by the harness`));
    if (reg.importId) this.fail(new Error(`${urn}: imports are not supported by the harness`));

    const providerRef = reg.provider || (await this.defaultProvider(reg.type, reg.version));
    if (providerRef) base.provider = providerRef;
    if (this.opts.programFor && !reg.type.startsWith("pulumi:providers:")) {
      // destroy/refresh with the program: the resource stays as it was, now with the provider the program names
      if (!old) return { urn, outputs: reg.inputs };
      this.registered.set(urn, { ...old, ...(providerRef ? { provider: providerRef } : {}) });
      return { urn, id: old.id, outputs: old.outputs };
    }
    const provider = this.providerOrFail(reg.type, urn, providerRef);
    const goal = goalOf(base);
    const news: PropertyMap = { ...reg.inputs };
    if (old) for (const key of reg.ignoreChanges) if (key in old.inputs) news[key] = old.inputs[key];

    let checked: PropertyMap;
    try {
      checked = await provider.check(goal, old?.inputs, news);
    } catch (error) {
      this.fail(error, this.record({ op: old ? "update" : "create", urn, type: reg.type, keys: [] }));
    }
    const next: ResourceState = { ...base, inputs: checked };
    if (!old) return this.create(provider, goal, next, this.record({ op: "create", urn, type: reg.type, keys: [] }));
    if (this.deleted.has(urn)) {
      // deleted ahead of a delete-before-replace: re-created, whatever its own diff says (step_generator.go "recreating")
      const replaceKeys = this.dependentReplaceKeys.get(urn) ?? [];
      return this.create(provider, goal, next, this.record({ op: "replace", urn, type: reg.type, keys: changedKeys(old.inputs, checked), replaceKeys, deleteBeforeReplace: true }));
    }

    const step = await this.decide(provider, goal, old, checked, reg);
    if (step.op === "same") {
      this.registered.set(urn, { ...next, id: old.id, outputs: old.outputs });
      return { urn, id: old.id, outputs: old.outputs };
    }
    if (step.op === "replace") return this.replace(provider, goal, old, next, step);
    return this.update(provider, goal, old, next, step);
  }

  /** Diff, then the engine's decision: same, update or replace (recorded as this run's step). */
  private async decide(provider: EngineProvider, goal: ResourceGoal, old: ResourceState, checked: PropertyMap, reg: Registration): Promise<Step> {
    let diff: DiffResult;
    try {
      diff = await provider.diff(goal, old, checked);
    } catch (error) {
      this.fail(error, this.record({ op: "update", urn: goal.urn, type: goal.type, keys: [] }));
    }
    const keys = diff.keys ?? changedKeys(old.inputs, checked);
    const replaceKeys = [...diff.replaces];
    // replaceOnChanges needs the changed keys: the engine's own diff, or a provider that names them.
    if (diff.changes === undefined || diff.keys !== undefined) {
      const forcing = (key: string) => reg.replaceOnChanges.includes(key) || reg.replaceOnChanges.includes("*");
      for (const key of keys) if (forcing(key) && !replaceKeys.includes(key)) replaceKeys.push(key);
    }
    const changes = (diff.changes ?? keys.length > 0) || replaceKeys.length > 0 || Boolean(old.initErrors?.length);
    if (!changes) return this.record({ op: "same", urn: goal.urn, type: goal.type, keys: [] });
    if (replaceKeys.length === 0) return this.record({ op: "update", urn: goal.urn, type: goal.type, keys });
    const deleteBeforeReplace = diff.deleteBeforeReplace || reg.deleteBeforeReplace;
    return this.record({ op: "replace", urn: goal.urn, type: goal.type, keys, replaceKeys, deleteBeforeReplace });
  }

  private async replace(provider: EngineProvider, goal: ResourceGoal, old: ResourceState, next: ResourceState, step: Step) {
    if (old.protect) this.fail(new Error(`${old.urn}: resource is protected; it cannot be replaced`), step);
    if (!this.opts.preview) {
      if (step.deleteBeforeReplace) {
        const dependents = await this.dependentReplacements(old, step);
        for (const dependent of [...dependents].reverse()) {
          if (this.deleted.has(dependent.state.urn)) continue;
          if (dependent.state.protect) this.fail(new Error(`unable to replace resource "${dependent.state.urn}" as part of replacing "${old.urn}" as it is currently marked for protection`), step);
          this.dependentReplaceKeys.set(dependent.state.urn, dependent.keys);
          await this.deleteOne(dependent.state, step);
          this.deleted.add(dependent.state.urn);
        }
        await this.deleteOne(old, step);
        this.deleted.add(old.urn);
      } else {
        this.pendingDeletes.push(old);
      }
    }
    return this.create(provider, goal, next, step);
  }

  /**
   * The old state's dependents of `root` that its replacement would replace (step_generator.go
   * calculateDependentReplacements over graph.DependingOn), in dependency order; ones already registered this run
   * cannot depend on it and are skipped.
   */
  private async dependentReplacements(root: ResourceState, step: Step): Promise<Array<{ state: ResourceState; keys: string[] }>> {
    const resources = this.opts.old.resources;
    const dependentSet = new Set([root.urn]);
    const replaceSet = new Set([root.urn]);
    const result: Array<{ state: ResourceState; keys: string[] }> = [];
    const providerUrn = (ref?: string) => (ref ? ref.slice(0, ref.lastIndexOf("::")) : undefined);
    for (const candidate of resources.slice(resources.findIndex((r) => r.urn === root.urn) + 1)) {
      if (this.registered.has(candidate.urn)) continue;
      const deps = [...candidate.dependencies, ...Object.values(candidate.propertyDependencies).flat()];
      const provider = providerUrn(candidate.provider);
      if (!deps.some((d) => dependentSet.has(d)) && !(provider && dependentSet.has(provider))) continue;
      dependentSet.add(candidate.urn);
      if (!candidate.custom || candidate.external) continue;
      if (provider && replaceSet.has(provider)) {
        result.push({ state: candidate, keys: [] });
        replaceSet.add(candidate.urn);
        continue;
      }
      const inputsForDiff: PropertyMap = { ...candidate.inputs };
      let dependsOnReplaced = false;
      for (const [key, urns] of Object.entries(candidate.propertyDependencies)) {
        if (key in inputsForDiff && urns.some((u) => replaceSet.has(u))) {
          inputsForDiff[key] = UNKNOWN;
          dependsOnReplaced = true;
        }
      }
      if (!dependsOnReplaced) continue;
      let diff: DiffResult;
      try {
        diff = await this.opts.providerFor(candidate.type, this.providerConfig(candidate.provider)).diff(goalOf(candidate), candidate, inputsForDiff);
      } catch (error) {
        this.fail(error, step);
      }
      if (diff.replaces.length > 0) {
        result.push({ state: candidate, keys: diff.replaces });
        replaceSet.add(candidate.urn);
      }
    }
    return result;
  }

  private async update(provider: EngineProvider, goal: ResourceGoal, old: ResourceState, next: ResourceState, step: Step) {
    if (this.opts.preview) return this.settle({ ...next, id: old.id, outputs: next.inputs });
    try {
      const outputs = await this.call(`update ${goal.name}`, provider.update(goal, old, next.inputs));
      return this.settle({ ...next, id: old.id, outputs });
    } catch (error) {
      if (error instanceof InitFailure) this.registered.set(old.urn, { ...next, id: old.id, outputs: error.outputs, initErrors: error.reasons });
      else this.registered.set(old.urn, old);
      this.fail(error, step);
    }
  }

  /**
   * The engine registers a default provider per package (`pulumi:providers:<pkg>::default_<version>`) the first
   * time a resource uses it without an explicit one; its inputs are the package's stack config. Returns the
   * provider reference (`urn::id`) recorded on the resource.
   */
  private defaultProvider(type: string, version: string | undefined): Promise<string> | undefined {
    const pkg = type.split(":")[0];
    if (pkg === "pulumi") return undefined;
    const name = version ? `default_${version.replace(/[.-]/g, "_")}` : "default";
    const key = `${pkg}::${name}`;
    let ref = this.defaultProviders.get(key);
    if (!ref) {
      ref = this.register({
        type: `pulumi:providers:${pkg}`,
        name,
        custom: true,
        remote: false,
        inputs: { ...this.opts.packageConfig(pkg), ...(version ? { version } : {}) },
        dependencies: [],
        propertyDependencies: {},
        deleteBeforeReplace: false,
        ignoreChanges: [],
        replaceOnChanges: [],
        additionalSecretOutputs: [],
      }).then(({ urn, id }) => `${urn}::${id ?? UNKNOWN}`);
      this.defaultProviders.set(key, ref);
    }
    return ref;
  }

  private providerConfig(ref: string | undefined): ProviderConfig | undefined {
    return providerConfigOf(ref, (urn) => this.registered.get(urn) ?? this.old.get(urn));
  }

  private providerOrFail(type: string, urn: string, ref: string | undefined): EngineProvider {
    try {
      return this.opts.providerFor(type, this.providerConfig(ref));
    } catch (error) {
      this.fail(error, this.record({ op: "create", urn, type, keys: [] }));
    }
  }

  private settle(state: ResourceState): { urn: string; id?: string; outputs: PropertyMap } {
    // The engine marks the outputs a registration lists in additionalSecretOutputs, whatever its provider.
    const outputs = { ...state.outputs };
    for (const key of state.additionalSecretOutputs) if (outputs[key] !== undefined && !isSecret(outputs[key])) outputs[key] = secret(outputs[key]);
    this.registered.set(state.urn, { ...state, outputs });
    return { urn: state.urn, id: state.id, outputs };
  }

  private async create(provider: EngineProvider, goal: ResourceGoal, next: ResourceState, step: Step) {
    if (this.opts.preview) return this.settle({ ...next, outputs: next.inputs });
    try {
      const { id, outputs } = await this.call(`create ${goal.name}`, provider.create(goal, next.inputs));
      return this.settle({ ...next, id, outputs });
    } catch (error) {
      if (error instanceof InitFailure) this.registered.set(next.urn, { ...next, id: error.id, outputs: error.outputs, initErrors: error.reasons });
      this.fail(error, step);
    }
  }

  private async deleteOne(state: ResourceState, step: Step): Promise<void> {
    if (state.protect) this.fail(new Error(`${state.urn}: resource is protected; it cannot be deleted`), step);
    if (!state.custom || state.external || state.retainOnDelete) return;
    try {
      await this.call(`delete ${state.name}`, this.opts.providerFor(state.type, this.providerConfig(state.provider)).delete(goalOf(state), state));
    } catch (error) {
      this.fail(error, step);
    }
  }

  /** `.get()` and StackReference: read now (in preview too) and kept in the state as external. */
  async read(reg: ReadRegistration): Promise<{ urn: string; outputs: PropertyMap }> {
    if (this.failure) throw new DeploymentCancelled();
    const urn = urnOf(this.opts.stack, this.opts.project, reg.type, reg.name, reg.parent);
    const providerRef = reg.provider || (await this.defaultProvider(reg.type, reg.version));
    const step = this.record({ op: "read", urn, type: reg.type, keys: [] });
    const provider = this.providerOrFail(reg.type, urn, providerRef);
    const goal: ResourceGoal = { urn, type: reg.type, name: reg.name, additionalSecretOutputs: reg.additionalSecretOutputs };
    let result;
    try {
      result = await provider.read(goal, reg.id, undefined, reg.inputs);
    } catch (error) {
      this.fail(error, step);
    }
    if (!result) this.fail(new Error(`${urn}: resource '${reg.id}' does not exist`), step);
    this.registered.set(urn, {
      urn,
      type: reg.type,
      name: reg.name,
      custom: true,
      external: true,
      ...(reg.parent ? { parent: reg.parent } : {}),
      id: result.id,
      ...(providerRef ? { provider: providerRef } : {}),
      inputs: reg.inputs,
      outputs: result.outputs,
      dependencies: reg.dependencies,
      propertyDependencies: {},
      additionalSecretOutputs: reg.additionalSecretOutputs,
    });
    return { urn, outputs: result.outputs };
  }

  registerOutputs(urn: string, outputs: PropertyMap): void {
    const state = this.registered.get(urn);
    if (state) state.outputs = outputs;
    if (urn === this.rootUrn) this.stackOutputs = outputs;
  }

  /** After the program exited: delete what it no longer declares (up) or show it (preview); nothing after a failure. */
  async finish(programFailed: string | undefined): Promise<void> {
    if (programFailed) this.failure ??= programFailed;
    if (this.failure) return;
    if (this.opts.programFor) return this.finishWithoutChanges(this.opts.programFor);
    const order = this.opts.old.resources.map((r) => r.urn);
    const doomed = [...this.pendingDeletes, ...this.opts.old.resources.filter((r) => !this.registered.has(r.urn) && !this.deleted.has(r.urn))];
    doomed.sort((a, b) => order.indexOf(b.urn) - order.indexOf(a.urn));
    for (const state of doomed) {
      const replaced = this.pendingDeletes.includes(state);
      const step = replaced ? undefined : this.record({ op: "delete", urn: state.urn, type: state.type, keys: [] });
      if (this.opts.preview) continue;
      try {
        await this.deleteOne(state, step ?? { op: "replace", urn: state.urn, type: state.type, keys: [] });
      } catch {
        return;
      }
      this.deleted.add(state.urn);
      if (replaced) this.pendingDeletes.splice(this.pendingDeletes.indexOf(state), 1);
    }
  }

  /** The result of `destroy`/`refresh --run-program`, once the program has configured the providers. */
  programForResult?: { steps: Step[]; state: StackState; failure?: string };

  private async finishWithoutChanges(mode: "destroy" | "refresh"): Promise<void> {
    // the old state in its order, each resource as the program re-registered it (with its provider now); a provider
    // the old state lacks goes first, before anything that uses it
    const fresh = [...this.registered.values()].filter((r) => r.type.startsWith("pulumi:providers:") && !this.old.has(r.urn));
    const current: StackState = { resources: [...fresh, ...this.opts.old.resources.map((r) => this.registered.get(r.urn) ?? r)] };
    this.programForResult = mode === "destroy" ? await destroyState(current, this.opts.providerFor) : await refreshState(current, this.opts.providerFor);
    this.steps.push(...this.programForResult.steps);
    if (this.programForResult.failure) this.failure ??= this.programForResult.failure;
  }

  /** The state after this run: the old one after a preview; after an up, what was done (and, after a failure, what was left). */
  state(): StackState {
    if (this.opts.preview) return clone(this.opts.old);
    if (this.opts.programFor) return this.programForResult ? clone(this.programForResult.state) : clone(this.opts.old);
    const resources = [...this.registered.values()];
    if (this.failure) {
      for (const old of this.opts.old.resources) if (!this.registered.has(old.urn) && !this.deleted.has(old.urn)) resources.push(old);
    }
    return clone({ resources });
  }
}

/** `pulumi refresh`: every custom resource read again; gone ones leave the state. */
export async function refreshState(old: StackState, providerFor: ProviderLookup): Promise<{ steps: Step[]; state: StackState; failure?: string }> {
  const steps: Step[] = [];
  const resources: ResourceState[] = [];
  for (const [i, state] of old.resources.entries()) {
    if (!state.custom || state.type.startsWith("pulumi:providers:")) {
      resources.push(state);
      continue;
    }
    const provider = providerFor(state.type, providerConfigOf(state.provider, (urn) => old.resources.find((r) => r.urn === urn)));
    try {
      const result = await provider.read(goalOf(state), state.id ?? "", state, state.inputs);
      if (!result) {
        steps.push({ op: "delete", urn: state.urn, type: state.type, keys: [] });
        continue;
      }
      // the engine marks the refreshed outputs as it marks any outputs: additionalSecretOutputs, whatever the provider
      const outputs = { ...result.outputs };
      for (const key of state.additionalSecretOutputs) if (outputs[key] !== undefined && !isSecret(outputs[key])) outputs[key] = secret(outputs[key]);
      const refreshed: ResourceState = { ...state, id: result.id, outputs, ...(result.inputs ? { inputs: result.inputs } : {}) };
      if (isDynamicType(state.type)) await provider.diff(goalOf(state), { ...state, outputs: refreshed.outputs }, state.inputs);
      steps.push({ op: "refresh", urn: state.urn, type: state.type, keys: changedKeys(state.outputs, refreshed.outputs) });
      resources.push(refreshed);
    } catch (error) {
      steps.push({ op: "refresh", urn: state.urn, type: state.type, keys: [], failed: true });
      return { steps, state: clone({ resources: [...resources, ...old.resources.slice(i)] }), failure: error instanceof Error ? error.message : String(error) };
    }
  }
  return { steps, state: clone({ resources }) };
}

/** `pulumi destroy`: the program does not run; every resource goes, dependents first. */
export async function destroyState(old: StackState, providerFor: ProviderLookup): Promise<{ steps: Step[]; state: StackState; failure?: string }> {
  const steps: Step[] = [];
  const remaining = [...old.resources];
  while (remaining.length > 0) {
    const state = remaining[remaining.length - 1];
    const step: Step = { op: "delete", urn: state.urn, type: state.type, keys: [] };
    steps.push(step);
    try {
      if (state.protect) throw new Error(`${state.urn}: resource is protected; it cannot be deleted`);
      if (state.custom && !state.external && !state.retainOnDelete) await providerFor(state.type, providerConfigOf(state.provider, (urn) => old.resources.find((r) => r.urn === urn))).delete(goalOf(state), state);
    } catch (error) {
      step.failed = true;
      return { steps, state: clone({ resources: remaining }), failure: error instanceof Error ? error.message : String(error) };
    }
    remaining.pop();
  }
  return { steps, state: { resources: [] } };
}
