// The registry module's progress: Secret d8-system/registry-state (type registry/state; deckhouse/deckhouse
// modules/038-registry/templates/orchestrator/state-secret.yaml) holds `mode`, `target_mode`, `hash` and
// `conditions` (a YAML list of type/status/reason/message; the orchestrator's steps in
// modules/038-registry/hooks/orchestrator/const.go). A switch is done when `mode == target_mode` and condition
// `Ready` is "True". Runs in the program and, closure-serialized, in the RegistryModeSwitch provider: packages are
// required inside functions.
import { apiPath, decodeBase64, type KubeClient } from "../../kube";

export const REGISTRY_STATE_PATH = apiPath({ apiVersion: "v1", resource: "secrets", namespace: "d8-system", name: "registry-state" });

export interface StateCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface RegistryState {
  mode?: string;
  targetMode?: string;
  hash?: string;
  conditions: StateCondition[];
}

function conditionsOf(yamlText: string): StateCondition[] {
  const { z } = require("zod") as typeof import("zod");
  const yaml = require("js-yaml") as typeof import("js-yaml");
  const parsed = z
    .array(z.object({ type: z.string(), status: z.string(), reason: z.string().optional(), message: z.string().optional() }).passthrough())
    .nullable()
    .safeParse(yaml.load(yamlText) ?? null);
  if (!parsed.success) throw new Error("Secret d8-system/registry-state: key conditions is not a list of conditions");
  return (parsed.data ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message }));
}

/** The state, or undefined when the Secret does not exist (yet). */
export async function readRegistryState(kube: KubeClient): Promise<RegistryState | undefined> {
  const secret = await kube.get<{ data?: Record<string, string> }>(REGISTRY_STATE_PATH);
  if (!secret) return undefined;
  const data = secret.data ?? {};
  const text = (key: string) => (typeof data[key] === "string" ? decodeBase64(data[key]).trim() : undefined);
  return { mode: text("mode"), targetMode: text("target_mode"), hash: text("hash"), conditions: conditionsOf(text("conditions") ?? "") };
}

/** Done for `wanted`: the module is in that mode, with nothing left to move (`mode == target_mode`, Ready "True"). */
export function stateReached(state: RegistryState | undefined, wanted: string): boolean {
  if (!state) return false;
  const ready = state.conditions.find((c) => c.type === "Ready");
  return state.mode === wanted && state.targetMode === wanted && ready?.status === "True";
}

/** One line: the modes, then every condition that is not "True" with its message (what the operator looks at). */
export function describeState(state: RegistryState | undefined): string {
  if (!state) return "Secret d8-system/registry-state does not exist yet";
  const pending = state.conditions
    .filter((c) => c.status !== "True")
    .map((c) => `${c.type} ${c.status}${c.reason ? ` (${c.reason})` : ""}${c.message ? `: ${c.message.replace(/\s+/g, " ").trim()}` : ""}`);
  return `mode ${state.mode ?? "?"}, target_mode ${state.targetMode ?? "?"}; ${pending.length > 0 ? pending.join("; ") : "every condition True"}`;
}
