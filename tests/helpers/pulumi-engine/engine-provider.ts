// What the engine stand-in needs from a resource provider. Values are in the engine's form: secret-marked where
// the engine would mark them. Create and Update are never called in preview (none of these providers supports it:
// the engine then takes the inputs as the outputs).
import type { PropertyMap } from "./property-values";
import type { ResourceState } from "./state";

export interface ResourceGoal {
  urn: string;
  type: string;
  name: string;
  additionalSecretOutputs: string[];
}

export interface DiffResult {
  /** undefined: the provider does not know (DIFF_UNKNOWN); the engine then compares old and new inputs itself. */
  changes: boolean | undefined;
  replaces: string[];
  deleteBeforeReplace: boolean;
  /** The keys that changed, when the provider says (the dynamic-provider host never does). */
  keys?: string[];
}

export interface ReadResult {
  id: string;
  outputs: PropertyMap;
  inputs?: PropertyMap;
}

export interface EngineProvider {
  check(goal: ResourceGoal, olds: PropertyMap | undefined, news: PropertyMap): Promise<PropertyMap>;
  diff(goal: ResourceGoal, old: ResourceState, news: PropertyMap): Promise<DiffResult>;
  create(goal: ResourceGoal, news: PropertyMap): Promise<{ id: string; outputs: PropertyMap }>;
  update(goal: ResourceGoal, old: ResourceState, news: PropertyMap): Promise<PropertyMap>;
  /** `.get()` (old undefined, props as given) or refresh (old = the state). undefined: the resource is gone. */
  read(goal: ResourceGoal, id: string, old: ResourceState | undefined, props: PropertyMap): Promise<ReadResult | undefined>;
  delete(goal: ResourceGoal, old: ResourceState): Promise<void>;
  /** Releases connections at the end of a run. */
  close?(): Promise<void>;
}

/** A provider failure whose resource exists but did not initialize: the engine keeps it in the state. */
export class InitFailure extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly outputs: PropertyMap,
    readonly reasons: string[],
  ) {
    super(message);
  }
}
