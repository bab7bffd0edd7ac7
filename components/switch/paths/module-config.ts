// The ModuleConfig path of the switch, for a cluster whose registry the registry module owns (v1.73+; see
// ../../registry-mode.ts): the switch edits the active mode's section of ModuleConfig `deckhouse`
// `spec.settings.registry` (imagesRepo, scheme, ca, username/password of the target; `license` dropped: it excludes
// them; the mode kept) and waits for Secret d8-system/registry-state. It never patches Secret deckhouse-registry or
// the Deployment: the module rewrites both and reverts anyone else's change. A cluster still in the legacy mode
// (module-legacy) is first migrated as Deckhouse documents it: configurable Unmanaged with the CURRENT repository,
// scheme, ca and credentials (from deckhouse-registry), wait for Ready, then the switch. `pulumi destroy` writes
// the previous section back (after a migration: configurable Unmanaged with the vendor's repository) and waits.
import * as pulumi from "@pulumi/pulumi";
import { formatReference, parseImageReference, type RepositoryName } from "../../../copier";
import { decodeBase64 } from "../../kube";
import { SECTION_KEY, type ConfigurableMode, type RegistryPath, type RegistrySection } from "../../registry-mode";
import { RegistryModeSwitch } from "./module-config-provider";

/** Where Direct, Proxy and Local serve the Deckhouse images inside the cluster (REGISTRY_SWITCHING.md). */
export const IN_CLUSTER_REPOSITORY = "registry.d8-system.svc:5001/system/deckhouse";

/** What the preview shows and the state keeps in plain text: repositories and steps, no credential. */
export interface ModuleConfigPlan {
  mode: ConfigurableMode;
  /** The legacy mode is migrated first. */
  migrate: boolean;
  /** The repository the section names before the switch (or the one the migration writes). */
  previousRepo: string;
  /** The deckhouse container's image once the module has switched (what the rollout wait expects). */
  expectedImage: string;
  /** The Deckhouse image under its current tag in the target (the module renders `<imagesRepo>:<current tag>`). */
  originalTagImage: string;
}

/** The sections themselves: credentials, carried on only as Pulumi secrets. */
export interface ModuleConfigSections {
  migration?: RegistrySection;
  previous: RegistrySection;
}

export interface TargetAccess {
  repository: string;
  username: string;
  password: string;
  insecure: boolean;
  ca?: string;
}

/** The target's section: what the switch writes (no license: it excludes username/password). */
export function targetSection(target: TargetAccess): RegistrySection {
  const ca = target.ca?.trim();
  return { imagesRepo: target.repository, scheme: target.insecure ? "HTTP" : "HTTPS", username: target.username, password: target.password, ...(ca ? { ca } : {}) };
}

/**
 * The registry deckhouse-registry names now, as a configurable Unmanaged section (the migration's). A license user
 * (`license-token`) becomes `license`; `auth` is split at the first colon.
 */
export function sectionFromRegistrySecret(data: Record<string, string>): RegistrySection {
  const text = (key: string) => (typeof data[key] === "string" ? decodeBase64(data[key]).trim() : "");
  const address = text("address");
  const path = text("path").replace(/^\/+|\/+$/g, "");
  if (!address) throw new Error("Secret d8-system/deckhouse-registry has no address: the current registry for the migration is unknown");
  const section: RegistrySection = { imagesRepo: path ? `${address}/${path}` : address, scheme: text("scheme").toLowerCase() === "http" ? "HTTP" : "HTTPS" };
  const ca = text("ca");
  if (ca) section.ca = ca;
  let auths: Record<string, { username?: string; password?: string; auth?: string }> = {};
  try {
    auths = (JSON.parse(text(".dockerconfigjson") || "{}") as { auths?: typeof auths }).auths ?? {};
  } catch {
    throw new Error("Secret d8-system/deckhouse-registry: .dockerconfigjson is not JSON");
  }
  const entry = auths[address];
  let username = entry?.username;
  let password = entry?.password;
  if ((!username || password === undefined) && entry?.auth) {
    const plain = decodeBase64(entry.auth);
    const colon = plain.indexOf(":");
    if (colon > 0) [username, password] = [plain.slice(0, colon), plain.slice(colon + 1)];
  }
  if (username === "license-token" && password) section.license = password;
  else if (username && password !== undefined) Object.assign(section, { username, password });
  return section;
}

/** An image under the in-cluster address stands for the same image in `upstream` (Direct/Proxy). */
export function upstreamImage(image: string, upstream: string): string {
  return image.startsWith(`${IN_CLUSTER_REPOSITORY}:`) || image.startsWith(`${IN_CLUSTER_REPOSITORY}@`) ? `${upstream}${image.slice(IN_CLUSTER_REPOSITORY.length)}` : image;
}

/** The plan of the ModuleConfig path from what the gate read; throws a plain Error for the gate to word. */
export function planModuleConfigPath(
  path: Extract<RegistryPath, { path: "module" | "module-legacy" }>,
  registrySecret: Record<string, string>,
  deckhouseImage: string,
  sourceImage: string,
  target: RepositoryName,
): { plan: ModuleConfigPlan; sections: ModuleConfigSections } {
  const mode: ConfigurableMode = path.path === "module" ? path.mode : "Unmanaged";
  const migration = path.path === "module-legacy" ? sectionFromRegistrySecret(registrySecret) : undefined;
  const previous = path.path === "module" ? path.section : (migration as RegistrySection);
  const original = parseImageReference(upstreamImage(sourceImage, previous.imagesRepo ?? ""));
  const originalTagImage = formatReference({ ...target, ...(original.tag ? { tag: original.tag } : { digest: original.digest }) });
  return {
    plan: {
      mode,
      migrate: migration !== undefined,
      previousRepo: previous.imagesRepo ?? "",
      // In Direct and Proxy the Deployment keeps the in-cluster address; in Unmanaged it names the new repository.
      expectedImage: mode === "Unmanaged" ? originalTagImage : deckhouseImage,
      originalTagImage,
    },
    sections: { migration, previous },
  };
}

/** What the path does, in words: built from the resource's recorded inputs, the same after the switch. */
export interface ModuleConfigWords {
  mode: ConfigurableMode;
  migrates: boolean;
  previousRepo: string;
  targetRepo: string;
  username: string;
}

/** The preview's words for the ModuleConfig path. */
export function describeModuleConfigPath(w: ModuleConfigWords): string[] {
  const key = SECTION_KEY[w.mode];
  const steps = w.migrates
    ? [
        `migrates the registry module from its legacy mode first, as Deckhouse documents it: ModuleConfig deckhouse spec.settings.registry mode Unmanaged with unmanaged.imagesRepo ${w.previousRepo} and the scheme, ca and credentials of Secret d8-system/deckhouse-registry; waits for Secret d8-system/registry-state Ready`,
      ]
    : [];
  return [
    ...steps,
    `sets ModuleConfig deckhouse spec.settings.registry.${key} to imagesRepo ${w.targetRepo} (user ${w.username}; license removed), mode ${w.mode} kept; waits for Secret d8-system/registry-state: mode ${w.mode}, Ready "True"`,
    "Secret d8-system/deckhouse-registry and Deployment d8-system/deckhouse are left to the registry module, which rewrites them",
  ];
}

export function describeModuleConfigRollback(w: Pick<ModuleConfigWords, "mode" | "migrates" | "previousRepo">): string[] {
  return [
    `ModuleConfig deckhouse spec.settings.registry.${SECTION_KEY[w.mode]} back to imagesRepo ${w.previousRepo} with its credentials as before the switch${w.migrates ? " (the configurable Unmanaged mode the migration set)" : ""}, mode ${w.mode}`,
    "then waits for Secret d8-system/registry-state Ready and the Deckhouse rollout",
  ];
}

export interface ModuleConfigPathArgs {
  plan: ModuleConfigPlan;
  sections: ModuleConfigSections;
  target: TargetAccess;
  timeoutSeconds: number;
  /** Shown in the words (never a password). */
  username: string;
}

/** Declares the path's one resource; what follows it (the rollout wait) depends on `last`. */
export function declareModuleConfigPath(
  name: string,
  args: ModuleConfigPathArgs,
  opts: pulumi.CustomResourceOptions,
): { last: pulumi.Resource; words: pulumi.Output<string[]>; outputs: Record<string, pulumi.Input<unknown>> } {
  const { plan, sections } = args;
  const modeSwitch = new RegistryModeSwitch(
    `${name}-registry-mode`,
    {
      mode: plan.mode,
      ...(sections.migration ? { migration: pulumi.secret(sections.migration) } : {}),
      target: pulumi.secret(targetSection(args.target)),
      previous: pulumi.secret(sections.previous),
      targetRepo: args.target.repository,
      previousRepo: plan.previousRepo,
      migrates: plan.migrate,
      timeoutSeconds: args.timeoutSeconds,
    },
    opts,
  );
  const words = pulumi.all([modeSwitch.mode, modeSwitch.migrates, modeSwitch.previousRepo, modeSwitch.targetRepo]).apply(([mode, migrates, previousRepo, targetRepo]) => ({ mode, migrates, previousRepo, targetRepo, username: args.username }));
  return {
    last: modeSwitch,
    words: words.apply(describeModuleConfigPath),
    outputs: {
      oldRegistry: modeSwitch.previousRepo,
      registrySwitchedAt: modeSwitch.switchedAt,
      rollback: words.apply(describeModuleConfigRollback),
    },
  };
}
