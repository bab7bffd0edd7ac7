// What of Deckhouse's modules the cluster will pull from the new registry, read through the API (deckhouse-controller's
// objects, all cluster-scoped, `deckhouse.io/v1alpha1`):
// - ModuleRelease: `spec.moduleName`, `spec.version`, `status.phase` (`Deployed` = the running one), and the label
//   `source` naming its ModuleSource. Source `deckhouse` renders its repository as `<registry base>/modules`, so after
//   the switch those modules are pulled from the target; other sources keep their own registry.
// - Module: `properties.releaseChannel` (set from the module's update policy); without it the channel is Deckhouse's
//   own (ModuleConfig `deckhouse`, the embedded policy). Deckhouse looks up `release:<kebab-case channel>`.
// - operator-trivy is on when ModuleConfig `operator-trivy` says `spec.enabled: true`, or, without that, when its
//   Module reports the condition `EnabledByModuleManager` True; then it pulls the four security databases.
// A cluster without these kinds (an older Deckhouse) answers 404: no modules.
import * as z from "zod";
import { apiPath, type KubeClient } from "../kube";
import { KubeApiError } from "../kube/client";
import { readReleaseChannel } from "../switch/updates";

export const MODULE_SOURCE_DECKHOUSE = "deckhouse";
export const TRIVY_MODULE = "operator-trivy";
const GROUP = "deckhouse.io/v1alpha1";

export interface ClusterModule {
  name: string;
  /** The module image's tag: `v<semver>`. */
  version: string;
  /** Kebab-case, the tag of `release:<channel>`. */
  channel: string;
  /** Where the channel came from, for the preview. */
  channelFrom: "Module" | "Deckhouse" | "default";
}

export interface ClusterModules {
  /** Deployed releases of ModuleSource `deckhouse`: copied. */
  deckhouse: ClusterModule[];
  /** Deployed releases of other sources: listed, not copied (their registry does not change). */
  others: Array<{ name: string; version: string; source: string }>;
  /** Whether operator-trivy is enabled (it pulls the security databases from the registry). */
  trivyEnabled: boolean;
}

const releaseList = z.array(
  z.object({
    metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }),
    spec: z.object({ moduleName: z.string().min(1), version: z.string().min(1) }),
    status: z.object({ phase: z.string().optional() }).optional(),
  }),
);
const moduleList = z.array(
  z.object({
    metadata: z.object({ name: z.string() }),
    properties: z.object({ releaseChannel: z.string().optional(), source: z.string().optional() }).loose().optional(),
    status: z.object({ conditions: z.array(z.object({ type: z.string(), status: z.string() }).loose()).optional() }).loose().optional(),
  }),
);
const moduleConfig = z.object({ spec: z.object({ enabled: z.boolean().optional() }).loose().optional() });

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`${what} are not shaped as expected (${issue.path.join(".")}: ${issue.message})`);
}

async function listOrNone(kube: KubeClient, resource: string): Promise<unknown[]> {
  try {
    return (await kube.list(apiPath({ apiVersion: GROUP, resource }))).items as unknown[];
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 404) return [];
    throw err;
  }
}

/** `EarlyAccess` / `early-access` → `early-access`. */
export function kebabChannel(channel: string): string {
  return channel.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

export async function readClusterModules(kube: KubeClient): Promise<ClusterModules> {
  const [releasesRaw, modulesRaw] = await Promise.all([listOrNone(kube, "modulereleases"), listOrNone(kube, "modules")]);
  const releases = parse(releaseList, releasesRaw, "ModuleReleases").filter((r) => r.status?.phase === "Deployed");
  const modules = new Map(parse(moduleList, modulesRaw, "Modules").map((m) => [m.metadata.name, m]));

  let deckhouseChannel: string | undefined;
  const needsDefault = releases.some((r) => (r.metadata.labels?.source ?? "") === MODULE_SOURCE_DECKHOUSE && !modules.get(r.spec.moduleName)?.properties?.releaseChannel);
  if (needsDefault) deckhouseChannel = (await readReleaseChannel(kube)).channel;

  const byName = new Map<string, ClusterModule>();
  const others: ClusterModules["others"] = [];
  for (const r of releases) {
    const version = r.spec.version.startsWith("v") ? r.spec.version : `v${r.spec.version}`;
    const source = r.metadata.labels?.source ?? "";
    if (source !== MODULE_SOURCE_DECKHOUSE) {
      others.push({ name: r.spec.moduleName, version, source: source || "(no source label)" });
      continue;
    }
    const own = modules.get(r.spec.moduleName)?.properties?.releaseChannel;
    const channel = own ?? deckhouseChannel;
    byName.set(r.spec.moduleName, {
      name: r.spec.moduleName,
      version,
      channel: kebabChannel(channel ?? "Stable"),
      channelFrom: own ? "Module" : deckhouseChannel ? "Deckhouse" : "default",
    });
  }

  const config = await kube.get(apiPath({ apiVersion: GROUP, resource: "moduleconfigs", name: TRIVY_MODULE })).catch((err) => {
    if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
    throw err;
  });
  const enabled = config ? parse(moduleConfig, config, `ModuleConfig ${TRIVY_MODULE}`).spec?.enabled : undefined;
  const condition = modules.get(TRIVY_MODULE)?.status?.conditions?.find((c) => c.type === "EnabledByModuleManager")?.status;
  return {
    deckhouse: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)),
    others: others.sort((a, b) => a.name.localeCompare(b.name)),
    trivyEnabled: enabled ?? condition === "True",
  };
}
