// Deckhouse's release channel, where it lives and how the switch removes and restores it. With a channel set,
// Deckhouse looks for `<repo>/release-channel:<channel>` in its registry; after the switch that is the customer's
// registry, which has the image only when the copy included the update images. Deckhouse's FAQ: remove
// `releaseChannel` when the cluster should not be updated from the new registry.
// Newer releases keep it in ModuleConfig `deckhouse` (`spec.settings.releaseChannel`); older ones in the YAML of
// ConfigMap `d8-system/deckhouse`, key `deckhouse`. This module runs in the program and, closure-serialized, in
// the DeckhouseUpdates provider: packages are required inside functions.
import { apiPath, type KubeClient } from "../kube";

export type UpdatesMode = "keep" | "disable";
/** The object that holds the setting; "none" when neither exists. */
export type ChannelHome = "ModuleConfig" | "ConfigMap" | "none";

export interface ReleaseChannelSetting {
  home: ChannelHome;
  /** `Alpha`, `Beta`, `EarlyAccess`, `Stable` or `RockSolid`; undefined when not set. */
  channel?: string;
}

export const MODULE_CONFIG_PATH = apiPath({ apiVersion: "deckhouse.io/v1alpha1", resource: "moduleconfigs", name: "deckhouse" });
export const CONFIG_MAP_PATH = apiPath({ apiVersion: "v1", resource: "configmaps", namespace: "d8-system", name: "deckhouse" });
/** The ConfigMap key holding the deckhouse module's settings as YAML. */
const CONFIG_MAP_KEY = "deckhouse";

/** `EarlyAccess` -> `early-access`: the tag of `<repo>/release-channel` Deckhouse looks for. */
export function channelTag(channel: string): string {
  return channel.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

export function describeHome(home: ChannelHome): string {
  return home === "ModuleConfig" ? "ModuleConfig deckhouse (spec.settings.releaseChannel)" : home === "ConfigMap" ? "ConfigMap d8-system/deckhouse (key deckhouse)" : "nowhere";
}

interface ModuleConfigLike {
  spec?: { settings?: { releaseChannel?: unknown } };
}

interface ConfigMapLike {
  data?: Record<string, string>;
}

function yaml(): typeof import("js-yaml") {
  return require("js-yaml") as typeof import("js-yaml");
}

function settingsOf(text: string | undefined): Record<string, unknown> {
  if (!text || !text.trim()) return {};
  const parsed = yaml().load(text);
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("ConfigMap d8-system/deckhouse: key deckhouse is not a YAML mapping");
  return parsed as Record<string, unknown>;
}

/** The release channel in the YAML of the ConfigMap's `deckhouse` key. */
export function channelInYaml(text: string | undefined): string | undefined {
  const channel = settingsOf(text).releaseChannel;
  return typeof channel === "string" && channel ? channel : undefined;
}

/** The same YAML with `releaseChannel` set to `channel`, or removed when `channel` is undefined. */
export function yamlWithChannel(text: string | undefined, channel: string | undefined): string {
  const settings = { ...settingsOf(text) };
  if (channel === undefined) delete settings.releaseChannel;
  else settings.releaseChannel = channel;
  return Object.keys(settings).length === 0 ? "" : yaml().dump(settings, { lineWidth: -1 });
}

/** Where the setting lives and its value now: the ModuleConfig when it exists, else the ConfigMap. */
export async function readReleaseChannel(kube: KubeClient): Promise<ReleaseChannelSetting> {
  const moduleConfig = await kube.get<ModuleConfigLike>(MODULE_CONFIG_PATH);
  if (moduleConfig) {
    const channel = moduleConfig.spec?.settings?.releaseChannel;
    return { home: "ModuleConfig", channel: typeof channel === "string" && channel ? channel : undefined };
  }
  const configMap = await kube.get<ConfigMapLike>(CONFIG_MAP_PATH);
  if (configMap?.data && CONFIG_MAP_KEY in configMap.data) return { home: "ConfigMap", channel: channelInYaml(configMap.data[CONFIG_MAP_KEY]) };
  return { home: "none" };
}

/** Sets the channel (or removes it: undefined) where it lives, with a JSON merge patch; other settings stay. */
export async function writeReleaseChannel(kube: KubeClient, home: ChannelHome, channel: string | undefined): Promise<void> {
  if (home === "ModuleConfig") {
    await kube.patch(MODULE_CONFIG_PATH, { spec: { settings: { releaseChannel: channel ?? null } } });
    return;
  }
  if (home === "ConfigMap") {
    const configMap = await kube.get<ConfigMapLike & { metadata?: { resourceVersion?: string } }>(CONFIG_MAP_PATH);
    if (!configMap) return;
    // Guarded by resourceVersion: the YAML is rewritten whole, so a concurrent edit must not be overwritten.
    await kube.patch(CONFIG_MAP_PATH, {
      metadata: { resourceVersion: configMap.metadata?.resourceVersion },
      data: { [CONFIG_MAP_KEY]: yamlWithChannel(configMap.data?.[CONFIG_MAP_KEY], channel) },
    });
  }
}
