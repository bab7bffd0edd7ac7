// Which way this cluster keeps its registry, read from the cluster (both stacks use it; no Pulumi in here).
//
// From v1.72 the `registry` module owns the registry of a Deckhouse-managed cluster; it is configured in ModuleConfig
// `deckhouse`, `spec.settings.registry` (deckhouse/deckhouse modules/002-deckhouse/openapi/config-values.yaml):
// `mode` Unmanaged (default) | Direct | Proxy | Local, and a section per mode (`unmanaged`, `direct`, `proxy`) with
// `imagesRepo`, `scheme` (HTTP|HTTPS), `ca`, `license` or `username`+`password`, `checkMode` (`proxy.ttl` too).
// `unmanaged` without `imagesRepo` is the legacy mode: the cluster still runs from Secret `deckhouse-registry`.
//
//   legacy          no registry module (absent, disabled, a release before v1.72), or the legacy mode before v1.73
//                   or with the module disabled: Secret `deckhouse-registry` and the Deployment are the registry (change-registry)
//   module-legacy   the module is enabled (v1.73+) but the mode is still legacy: the documented migration to the
//                   configurable Unmanaged mode comes first, then a switch as in `module`
//   module          a configurable mode (Unmanaged with imagesRepo, Direct, Proxy): its `section` is the registry
//   refused         `Local` (no upstream to switch), ModuleConfig `registry` in `mode: Managed` (not supported yet),
//                   or settings the module would not act on; `reason` is one line
//
// API (small on purpose; both stacks use it): readRegistryPath(kube, { configuredVersion }) -> RegistryPath;
// describeRegistryPath(path) for words; classifyRegistryPath(facts) is the pure part (readRegistryFacts reads).
//
// The module's enabled state: Module `registry` (deckhouse.io/v1alpha1, cluster-scoped), condition
// `EnabledByModuleManager` (the ENABLED column of `kubectl get modules`); without a Module object, ModuleConfig
// `registry` `spec.enabled: false` says disabled and anything else says the module is not there.
import { z } from "zod";
import { findDeckhouseRelease, parseDeckhouseVersion, VERSION_ANNOTATION } from "./copy/release-check";
import { apiPath, type KubeClient } from "./kube";

/** The first release with the registry module (Direct only); before it every cluster is legacy. */
export const MODULE_FROM = { major: 1, minor: 72 } as const;
/** The first release with the configurable Unmanaged mode, whose change-registry refuses while the module is enabled. */
export const CONFIGURABLE_FROM = { major: 1, minor: 73 } as const;

export const CONFIGURABLE_MODES = ["Unmanaged", "Direct", "Proxy"] as const;
export type ConfigurableMode = (typeof CONFIGURABLE_MODES)[number];
/** The ModuleConfig key of each mode's section. */
export const SECTION_KEY: Record<ConfigurableMode, "unmanaged" | "direct" | "proxy"> = { Unmanaged: "unmanaged", Direct: "direct", Proxy: "proxy" };

export const DECKHOUSE_MODULE_CONFIG = apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "moduleconfigs", name: "deckhouse" });
export const REGISTRY_MODULE_CONFIG = apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "moduleconfigs", name: "registry" });
export const REGISTRY_MODULE = apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "modules", name: "registry" });

/** A mode's section as the ModuleConfig holds it. `license`, `password` (and `ca`) are secrets: pass on as such. */
export const registrySectionSchema = z.object({
  imagesRepo: z.string().optional(),
  scheme: z.enum(["HTTP", "HTTPS"]).optional(),
  ca: z.string().optional(),
  license: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  checkMode: z.string().optional(),
  ttl: z.string().optional(),
});
export type RegistrySection = z.infer<typeof registrySectionSchema>;

const registrySettingsSchema = z.object({
  mode: z.string().optional(),
  unmanaged: registrySectionSchema.optional(),
  direct: registrySectionSchema.optional(),
  proxy: registrySectionSchema.optional(),
});

const moduleConfigSchema = z.object({
  spec: z.object({ enabled: z.boolean().nullish(), settings: z.record(z.string(), z.unknown()).nullish() }).nullish(),
});

const moduleSchema = z.object({
  status: z.object({ conditions: z.array(z.object({ type: z.string().optional(), status: z.string().optional() })).nullish() }).nullish(),
});

export type RegistryPath =
  | { path: "legacy"; why: string; release?: string }
  | { path: "module-legacy"; release?: string }
  | { path: "module"; mode: ConfigurableMode; section: RegistrySection & { imagesRepo: string }; release?: string }
  /** `reason` is one line phrased for the switch; `cause` lets another stack word its own. */
  | { path: "refused"; cause: RefusalCause; reason: string; release?: string };

export type RefusalCause = "managed" | "local" | "unknown-mode" | "malformed" | "module-not-enabled" | "no-images-repo";

/** What the classification reads; every field from the cluster (see readRegistryFacts). */
export interface RegistryFacts {
  /** `spec.settings.registry` of ModuleConfig `deckhouse`; undefined when it has none (or there is no ModuleConfig). */
  settings?: unknown;
  /** Module `registry`: true/false by its EnabledByModuleManager condition or ModuleConfig `registry`; undefined: not there. */
  moduleEnabled?: boolean;
  /** ModuleConfig `registry` `spec.settings.mode` (the unreleased implementation's `Managed`). */
  registryModuleMode?: string;
  /** The running release (`v1.74.2`); undefined when the cluster does not say. */
  release?: string;
}

const PREFIX = "images-copier: refusing to switch registries:";

function before(release: string | undefined, from: { major: number; minor: number }): boolean {
  const v = parseDeckhouseVersion(release);
  return v !== undefined && (v.major < from.major || (v.major === from.major && v.minor < from.minor));
}

/** Classifies the cluster from what was read (pure; readRegistryPath reads and calls it). */
export function classifyRegistryPath(facts: RegistryFacts): RegistryPath {
  const release = facts.release;
  const at = release ? ` (Deckhouse ${release})` : "";
  if (facts.registryModuleMode === "Managed") {
    return {
      path: "refused",
      cause: "managed",
      release,
      reason: `${PREFIX} ModuleConfig registry is in mode Managed (the registry module's newer implementation)${at}, which images-copier does not support yet; switch it with Deckhouse's own tools`,
    };
  }
  const parsed = facts.settings === undefined || facts.settings === null ? { success: true as const, data: {} } : registrySettingsSchema.safeParse(facts.settings);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { path: "refused", cause: "malformed", release, reason: `${PREFIX} ModuleConfig deckhouse spec.settings.registry is not shaped as expected (${issue.path.join(".")}: ${issue.message})` };
  }
  const settings = parsed.data;
  const mode = settings.mode ?? "Unmanaged";
  if (before(release, MODULE_FROM)) return { path: "legacy", release, why: `Deckhouse ${release} has no registry module (from v${MODULE_FROM.major}.${MODULE_FROM.minor})` };
  if (mode === "Local") {
    return {
      path: "refused",
      cause: "local",
      release,
      reason: `${PREFIX} ModuleConfig deckhouse sets registry mode Local${at}: the cluster serves its images from its own local registry, filled by d8 mirror push, and there is no upstream to switch; push the release there instead`,
    };
  }
  if (!(CONFIGURABLE_MODES as readonly string[]).includes(mode)) {
    return { path: "refused", cause: "unknown-mode", release, reason: `${PREFIX} ModuleConfig deckhouse sets registry mode "${mode}"${at}, which images-copier does not know (expected Unmanaged, Direct, Proxy)` };
  }
  const configurable = mode as ConfigurableMode;
  const section = settings[SECTION_KEY[configurable]];
  const imagesRepo = section?.imagesRepo?.trim();
  if (configurable === "Unmanaged" && !imagesRepo) {
    if (before(release, CONFIGURABLE_FROM)) return { path: "legacy", release, why: `Deckhouse ${release} has no configurable Unmanaged mode (from v${CONFIGURABLE_FROM.major}.${CONFIGURABLE_FROM.minor}); change-registry still applies` };
    if (facts.moduleEnabled === true) return { path: "module-legacy", release };
    return { path: "legacy", release, why: facts.moduleEnabled === false ? "the registry module is disabled" : "the cluster has no registry module" };
  }
  if (facts.moduleEnabled !== true) {
    return {
      path: "refused",
      cause: "module-not-enabled",
      release,
      reason: `${PREFIX} ModuleConfig deckhouse sets registry mode ${configurable}, but Module registry is ${facts.moduleEnabled === false ? "disabled" : "not there"}${at}, so nothing would act on a change; enable the registry module (or remove the registry settings) first`,
    };
  }
  if (!imagesRepo) {
    return { path: "refused", cause: "no-images-repo", release, reason: `${PREFIX} ModuleConfig deckhouse sets registry mode ${configurable} without ${SECTION_KEY[configurable]}.imagesRepo; fix the ModuleConfig first` };
  }
  return { path: "module", mode: configurable, section: { ...section, imagesRepo }, release };
}

function shaped<T>(schema: z.ZodType<T>, value: unknown): T | undefined {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** Reads ModuleConfig `deckhouse` and `registry`, Module `registry` and the release. */
export async function readRegistryFacts(kube: KubeClient, opts: { configuredVersion?: string } = {}): Promise<RegistryFacts> {
  const [deckhouseConfig, registryConfig, module, deployment] = await Promise.all([
    kube.get(DECKHOUSE_MODULE_CONFIG),
    kube.get(REGISTRY_MODULE_CONFIG),
    // A cluster without the Module kind answers 404 as for a missing object.
    kube.get(REGISTRY_MODULE),
    kube.get<{ metadata?: { annotations?: Record<string, string> }; spec?: { template?: { spec?: { containers?: Array<{ name?: string; image?: string }> } } } }>(
      apiPath({ apiVersion: "apps/v1", resource: "deployments", namespace: "d8-system", name: "deckhouse" }),
    ),
  ]);
  const settings = shaped(moduleConfigSchema, deckhouseConfig)?.spec?.settings?.registry;
  const registrySpec = shaped(moduleConfigSchema, registryConfig)?.spec;
  const registryMode = registrySpec?.settings?.mode;
  const conditions = shaped(moduleSchema, module)?.status?.conditions ?? [];
  const enabledCondition = conditions.find((c) => c.type === "EnabledByModuleManager");
  let moduleEnabled: boolean | undefined;
  if (enabledCondition) moduleEnabled = enabledCondition.status === "True";
  else if (registrySpec?.enabled === false) moduleEnabled = false;
  else if (module) moduleEnabled = registrySpec?.enabled === true ? true : undefined;

  let release: string | undefined;
  const image = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === "deckhouse")?.image;
  if (image) {
    try {
      release = (
        await findDeckhouseRelease({
          annotation: deployment?.metadata?.annotations?.[VERSION_ANNOTATION],
          image,
          configured: opts.configuredVersion,
          listReleases: async () => (await kube.list(apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "deckhousereleases" }))).items,
        })
      ).version;
    } catch {
      release = undefined; // the cluster does not say: the registry settings decide alone
    }
  }
  return { settings, moduleEnabled, registryModuleMode: typeof registryMode === "string" ? registryMode : undefined, release };
}

/**
 * The registry path of the cluster behind `kube`. `configuredVersion` is the stack's `deckhouseVersion`, used only
 * when the cluster does not say which release runs. The `module` result's `section` holds credentials: pass it on
 * only as a Pulumi secret.
 */
export async function readRegistryPath(kube: KubeClient, opts: { configuredVersion?: string } = {}): Promise<RegistryPath> {
  return classifyRegistryPath(await readRegistryFacts(kube, opts));
}

/** The path in a few words, for previews, outputs and the copy record (never a credential). */
export function describeRegistryPath(path: RegistryPath): string {
  switch (path.path) {
    case "legacy":
      return `legacy (Secret d8-system/deckhouse-registry; ${path.why})`;
    case "module-legacy":
      return "registry module, legacy Unmanaged mode (no imagesRepo): migrates to the configurable Unmanaged mode first";
    case "module":
      return `registry module, mode ${path.mode} (ModuleConfig deckhouse spec.settings.registry.${SECTION_KEY[path.mode]}, imagesRepo ${path.section.imagesRepo})`;
    case "refused":
      return `refused (${path.cause})`;
  }
}
