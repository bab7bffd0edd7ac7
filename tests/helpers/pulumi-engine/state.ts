// The stand-in's checkpoint: what the engine would store per resource between runs (in memory, not encrypted),
// and the step plan a run reports.
import type { PropertyMap } from "./property-values";

export interface ResourceState {
  urn: string;
  type: string;
  name: string;
  /** false for component resources (and the stack itself): nothing is created for them. */
  custom: boolean;
  parent?: string;
  id?: string;
  /** Inputs as the program sent them (secret-marked where the program marked them). */
  inputs: PropertyMap;
  /** Outputs as the engine stores them: a provider's answer, marked secret again by the engine's rules. */
  outputs: PropertyMap;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  /** The provider reference `urn::id` (an explicit provider, or the package's default one the engine registered). */
  provider?: string;
  /** Read with `.get()` or a StackReference: the stack never creates or deletes it. */
  external?: boolean;
  retainOnDelete?: boolean;
  protect?: boolean;
  deleteBeforeReplace?: boolean;
  additionalSecretOutputs: string[];
  /** Set when the provider answered ErrorResourceInitFailed: the resource exists but failed to initialize. */
  initErrors?: string[];
}

export interface StackState {
  /** In dependency order (a resource after everything it depends on); destroy walks it backwards. */
  resources: ResourceState[];
}

export type StepOp = "same" | "create" | "update" | "replace" | "delete" | "read" | "refresh";

export interface Step {
  op: StepOp;
  urn: string;
  type: string;
  /** The top-level input keys that differ (update/replace), the keys forcing a replacement, or (refresh) the output keys that drifted. */
  keys: string[];
  replaceKeys?: string[];
  deleteBeforeReplace?: boolean;
  /** The step was attempted and failed (the run's error says why). */
  failed?: boolean;
}

export function emptyState(): StackState {
  return { resources: [] };
}
