// What the CLI does with Pulumi.yaml and the stack's config before it starts the program: the project's name,
// runtime options and `main`, declared defaults filled in, required keys and secret keys enforced, then the whole
// config handed over as PULUMI_CONFIG (JSON, `namespace:key` -> string) and PULUMI_CONFIG_SECRET_KEYS.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** A stack config value: plain, or set with `pulumi config set --secret`. */
export type ConfigValue = string | { secret: string };

export interface PulumiProject {
  name: string;
  main?: string;
  typescript: boolean;
  config: Record<string, { type?: string; default?: unknown; secret?: boolean }>;
}

export function readProject(dir: string): PulumiProject {
  const { loadYaml } = require("@kubernetes/client-node") as { loadYaml(text: string): unknown };
  const doc = loadYaml(readFileSync(join(dir, "Pulumi.yaml"), "utf8")) as {
    name?: string;
    main?: string;
    runtime?: string | { name?: string; options?: { typescript?: boolean } };
    config?: Record<string, { type?: string; default?: unknown; secret?: boolean } | string>;
  };
  if (!doc?.name) throw new Error(`${dir}/Pulumi.yaml has no name`);
  const runtime = typeof doc.runtime === "string" ? { name: doc.runtime } : doc.runtime ?? {};
  if (runtime.name !== "nodejs") throw new Error(`${dir}/Pulumi.yaml: runtime ${runtime.name} is not nodejs`);
  const config: PulumiProject["config"] = {};
  for (const [key, decl] of Object.entries(doc.config ?? {})) config[key] = typeof decl === "object" && decl !== null ? decl : { default: decl };
  return { name: doc.name, main: doc.main, typescript: runtime.options?.typescript !== false, config };
}

export function qualifiedKey(project: string, key: string): string {
  return key.includes(":") ? key : `${project}:${key}`;
}

export interface ResolvedConfig {
  /** `namespace:key` -> plain value: what PULUMI_CONFIG carries and a dynamic provider's `configure` sees. */
  values: Record<string, string>;
  secretKeys: string[];
}

/** The stack's config as the CLI passes it; throws the CLI's kind of one-line error for a missing or unencrypted key. */
export function resolveConfig(project: PulumiProject, stack: string, config: Record<string, ConfigValue>): ResolvedConfig {
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    const full = qualifiedKey(project.name, key);
    if (typeof value === "string") {
      values[full] = value;
    } else {
      values[full] = value.secret;
      secretKeys.push(full);
    }
  }
  for (const [key, decl] of Object.entries(project.config)) {
    const full = qualifiedKey(project.name, key);
    if (!(full in values)) {
      if (decl.default === undefined) throw new Error(`Stack '${stack}' is missing configuration value '${full}'`);
      values[full] = typeof decl.default === "string" ? decl.default : JSON.stringify(decl.default);
    } else if (decl.secret && !secretKeys.includes(full)) {
      throw new Error(`Stack '${stack}' with configuration key '${full}' must be encrypted as it's secret`);
    }
  }
  return { values, secretKeys };
}
