// The ModuleConfig path's work against the Kubernetes API: write the active mode's section of ModuleConfig
// `deckhouse` `spec.settings.registry`, then wait for the registry module's orchestrator to finish (Secret
// d8-system/registry-state). Nothing else is written: the orchestrator rewrites Secret deckhouse-registry and the
// Deckhouse images itself, and puts deckhouse-registry back if anyone else changes it.
// Runs closure-serialized in the RegistryModeSwitch provider: no module-level values taken out of packages.
import { apiPath, decodeBase64, type KubeClient } from "../../kube";
import type { ConfigurableMode, RegistrySection } from "../../registry-mode";
import { describeState, readRegistryState, stateReached } from "./registry-state";

const MODULE_CONFIG = apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "moduleconfigs", name: "deckhouse" });
const REGISTRY_SECRET = apiPath({ apiVersion: "v1", resource: "secrets", namespace: "d8-system", name: "deckhouse-registry" });

const SECTION_KEYS: Record<ConfigurableMode, string> = { Unmanaged: "unmanaged", Direct: "direct", Proxy: "proxy" };
/** The fields a switch owns in a section; `checkMode` and `ttl` stay as the operator set them. */
const OWNED: ReadonlyArray<keyof RegistrySection> = ["imagesRepo", "scheme", "ca", "license", "username", "password"];

export interface SectionWrite {
  mode: ConfigurableMode;
  /** The section's registry fields as they must end up (absent fields are removed). */
  section: RegistrySection;
  timeoutMs: number;
  pollMs?: number;
  log?: (line: string) => void;
}

/** A JSON merge patch that sets the mode and the owned fields of its section, removing owned fields not given. */
export function sectionPatch(mode: ConfigurableMode, section: RegistrySection): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const key of OWNED) fields[key] = section[key] !== undefined && section[key] !== "" ? section[key] : null;
  return { spec: { settings: { registry: { mode, [SECTION_KEYS[mode]]: fields } } } };
}

function ownedOf(section: unknown): string {
  const s = (section ?? {}) as Record<string, unknown>;
  return JSON.stringify(OWNED.map((k) => s[k] ?? null));
}

async function registrySecretNames(kube: KubeClient, imagesRepo: string): Promise<boolean> {
  const secret = await kube.get<{ data?: Record<string, string> }>(REGISTRY_SECRET);
  const value = (key: string) => (secret?.data?.[key] ? decodeBase64(secret.data[key]).trim() : "");
  const named = `${value("address")}/${value("path").replace(/^\/+|\/+$/g, "")}`.replace(/\/+$/, "");
  return named === imagesRepo.replace(/\/+$/, "");
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Writes the section and waits until the module has applied it: registry-state `mode == target_mode == mode`,
 * Ready "True", rewritten since the write when the write changed anything (its `hash` differs: the state before the
 * write may still say Ready), and in Unmanaged Secret deckhouse-registry naming the new `imagesRepo`. Relays the
 * state's other conditions while waiting (each new line once) and names them on timeout.
 */
export async function writeRegistrySection(kube: KubeClient, write: SectionWrite): Promise<void> {
  const log = write.log ?? ((line: string) => console.log(line));
  const key = SECTION_KEYS[write.mode];
  const before = await kube.get<{ spec?: { settings?: { registry?: Record<string, unknown> } } }>(MODULE_CONFIG);
  if (!before) throw new Error("ModuleConfig deckhouse does not exist");
  const registryBefore = before.spec?.settings?.registry ?? {};
  const changed = registryBefore.mode !== write.mode || ownedOf(registryBefore[key]) !== ownedOf(write.section);
  const hashBefore = (await readRegistryState(kube))?.hash;
  if (changed) await kube.patch(MODULE_CONFIG, sectionPatch(write.mode, write.section));

  const imagesRepo = write.section.imagesRepo ?? "";
  const deadline = Date.now() + write.timeoutMs;
  let last = "";
  for (;;) {
    const state = await readRegistryState(kube);
    const line = describeState(state);
    const processed = !changed || state?.hash !== hashBefore;
    if (stateReached(state, write.mode) && processed && (write.mode !== "Unmanaged" || (await registrySecretNames(kube, imagesRepo)))) return;
    if (line !== last) log(`images-copier: registry module: ${line}`);
    last = line;
    if (Date.now() >= deadline) {
      throw new Error(`the registry module did not reach mode ${write.mode} with ${key}.imagesRepo ${imagesRepo} within ${Math.round(write.timeoutMs / 1000)} s (Secret d8-system/registry-state: ${line})`);
    }
    await sleep(Math.min(write.pollMs ?? 2000, Math.max(deadline - Date.now(), 0)));
  }
}
