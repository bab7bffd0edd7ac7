// The modules a run copies (`--with-modules FILE`, the copy Job's modules.json): a JSON list of
// {name, version, channel}, as the copy stack reads them from the cluster's Deployed ModuleReleases of source
// `deckhouse`. Each is refused with one line naming the bad value.

import * as z from "zod";
import { ConfigError } from "./config";
import { RELEASE_CHANNELS } from "./plan";
import { isTag } from "./reference";

export type ReleaseChannel = (typeof RELEASE_CHANNELS)[number];

export interface ModuleSpec {
  /** Module name, one repository path component: `<repo>/modules/<name>`. */
  name: string;
  /** The module image tag, always with its leading `v` (Deckhouse pulls `<repo>/modules/<name>:v<semver>`). */
  version: string;
  /** Kebab-case channel: the tag of `<repo>/modules/<name>/release:<channel>`. */
  channel: ReleaseChannel;
}

const NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** `Stable`, `EarlyAccess`, `early-access`, `rock-solid` → the kebab-case tag Deckhouse looks up. */
export function channelTag(channel: string): ReleaseChannel | undefined {
  const kebab = channel.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
  return (RELEASE_CHANNELS as readonly string[]).includes(kebab) ? (kebab as ReleaseChannel) : undefined;
}

/** A ModuleRelease's `spec.version` (`1.2.3` or `v1.2.3`) as the module image's tag. */
export function versionTag(version: string): string {
  return version.startsWith("v") ? version : `v${version}`;
}

const shown = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

function moduleSchema() {
  return z.object({
    name: z.string({ error: (i) => `name must be a string, got ${shown(i.input)}` }).refine((v) => NAME.test(v), {
      error: (i) => `name must be a module name like "console" (lower case, digits, dashes), got ${shown(i.input)}`,
    }),
    version: z
      .string({ error: (i) => `version must be a string, got ${shown(i.input)}` })
      .refine((v) => /^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(v) && isTag(versionTag(v)), {
        error: (i) => `version must be a semantic version like "v1.2.3", got ${shown(i.input)}`,
      }),
    channel: z
      .string({ error: (i) => `channel must be a string, got ${shown(i.input)}` })
      .refine((v) => channelTag(v) !== undefined, {
        error: (i) => `channel must be one of ${RELEASE_CHANNELS.join(", ")} (or Stable, EarlyAccess, ...), got ${shown(i.input)}`,
      }),
  });
}

/** Validates a parsed modules file; `what` (the file name) starts every error. Duplicate names are refused. */
export function parseModulesList(value: unknown, what: string): ModuleSpec[] {
  const parsed = z.array(moduleSchema(), { error: `must be a JSON list of {name, version, channel}, got ${shown(value)}` }).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "");
    throw new ConfigError(`${what}${where ? ` ${where}` : ""}: ${issue.message}`);
  }
  const seen = new Set<string>();
  return parsed.data.map((m, i) => {
    if (seen.has(m.name)) throw new ConfigError(`${what} [${i}].name: module "${m.name}" is listed twice; give each module once`);
    seen.add(m.name);
    return { name: m.name, version: versionTag(m.version), channel: channelTag(m.channel) as ReleaseChannel };
  });
}
