// The stack's configuration (namespace `images-copier`), validated once, here, at the edge.
import { z } from "zod";
import { InvalidReferenceError, parseImageReference, parseTaggedReference } from "./copier/reference";
import { parseDeckhouseVersion } from "./components/copy/release-check";
import { DEFAULT_KUBE_IMPERSONATE } from "./components/kube/access";

const targetImage = z.string({ error: "targetImage is required, e.g. registry.example.com/deckhouse/ee:rock-solid-1.46" }).superRefine((value, ctx) => {
  try {
    parseTaggedReference(value, "targetImage");
  } catch (err) {
    if (!(err instanceof InvalidReferenceError)) throw err;
    ctx.addIssue({ code: "custom", message: err.message });
  }
});

const DEFAULT_COPIER_IMAGE = "node:20-bookworm-slim";

/**
 * The image that runs the copier. One on the target registry's host (e.g. from `images-copier publish-image`) is
 * read there at program time: pinned by digest, pulled with the target credentials, and run with its own copier
 * when its label says it holds one (components/copier-job/image.ts).
 */
const copierImage = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    try {
      parseImageReference(value);
    } catch (err) {
      if (!(err instanceof InvalidReferenceError)) throw err;
      ctx.addIssue({ code: "custom", message: `copierImage: ${err.message}` });
    }
  })
  .default(DEFAULT_COPIER_IMAGE);

const common = {
  targetImage,
  targetUsername: z.string({ error: "targetUsername is required" }).min(1, "targetUsername must not be empty"),
  targetPassword: z.string({ error: "targetPassword is required (pulumi config set --secret targetPassword …)" }).min(1, "targetPassword must not be empty"),
  targetCA: z.string().includes("-----BEGIN CERTIFICATE-----", { message: "targetCA must be a PEM certificate" }).optional(),
  targetInsecure: z.boolean().default(false),
  /** The user that writes Deckhouse's own objects (`heritage: deckhouse`), sent as Impersonate-User; "": none. */
  kubeImpersonate: z
    .string()
    .regex(/^[^\x00-\x1f\x7f]*$/, { message: "kubeImpersonate must be a user name on one line, e.g. system:sudouser (\"\" turns impersonation off)" })
    .default(DEFAULT_KUBE_IMPERSONATE),
};

/** The image that runs the copier: the copy Job's, and the switch's check Job's. */
const copier = {
  copierImage,
  /** true: copierImage already holds the copier (the Dockerfile's image), so no ConfigMap is shipped or mounted. */
  copierBundled: z.boolean().default(false),
};
const copierBundledNeedsImage = {
  check: (c: { copierBundled: boolean; copierImage: string }) => !(c.copierBundled && c.copierImage === DEFAULT_COPIER_IMAGE),
  params: {
    message: `copierBundled needs copierImage set to an image built from the Dockerfile (the stock ${DEFAULT_COPIER_IMAGE} holds no copier)`,
    path: ["copierBundled"],
  },
};

export const copyStageConfigSchema = z.object({
  stage: z.literal("copy"),
  ...common,
  ...copier,
  runId: z.string().min(1).default("1"),
  concurrency: z.number().int().min(1).max(64).default(8),
  timeoutMinutes: z.number().int().min(1).max(7 * 24 * 60).default(360),
  imagesFile: z.string().min(1).optional(),
  /** Also copy the update sub-repositories (release channels, the running version's installer). */
  copyUpdateImages: z.boolean().default(false),
  /** The Deployed ModuleReleases of ModuleSource `deckhouse` (components/copy/modules-read.ts), or none. */
  copyModules: z.enum(["deployed", "none"], { error: 'copyModules must be "deployed" or "none"' }).default("deployed"),
  /** operator-trivy's databases: when it is enabled (`auto`), `always` or `never`. */
  copySecurityDatabases: z.enum(["auto", "always", "never"], { error: 'copySecurityDatabases must be "auto", "always" or "never"' }).default("auto"),
  /** The cluster's own `release-channel:<channel>` image, when a channel is set. */
  copyReleaseChannel: z.boolean().default(true),
  /** Upload blobs in chunks of this many MiB from the start (`--chunk-size`); 0: only after a registry refuses a whole blob. */
  uploadChunkMiB: z.number().int().min(0).max(256).default(0),
  /** The running Deckhouse release, for a cluster that does not say (see components/copy/release-check.ts). */
  deckhouseVersion: z
    .string()
    .superRefine((value, ctx) => {
      if (!parseDeckhouseVersion(value)) ctx.addIssue({ code: "custom", message: `deckhouseVersion "${value}" is not a Deckhouse version (e.g. v1.58.2)` });
    })
    .optional(),
}).refine(copierBundledNeedsImage.check, copierBundledNeedsImage.params);

export const switchStageConfigSchema = z.object({
  stage: z.literal("switch"),
  ...common,
  copyStack: z.string({ error: "copyStack is required for the switch stage (the copy stack's name, e.g. org/images-copier/copy)" }).min(1),
  /** Deckhouse updates from the new registry: `keep` the release channel, or `disable` them (remove it). Default: from the copy record. */
  updates: z.enum(["keep", "disable"], { error: 'updates must be "keep" or "disable"' }).optional(),
  /** Where the target registry is checked from: here (`local`), or by a short Job in the cluster (`cluster`). */
  checkFrom: z.enum(["local", "cluster"], { error: 'checkFrom must be "local" or "cluster"' }).default("local"),
  /** checkFrom cluster: the image that runs the copier's check. */
  ...copier,
}).refine(copierBundledNeedsImage.check, copierBundledNeedsImage.params);

export const stackConfigSchema = z.discriminatedUnion("stage", [copyStageConfigSchema, switchStageConfigSchema], {
  error: 'stage must be "copy" or "switch"',
});

/** kubeImpersonate always comes out of the schema; optional in the type, so configs built in code need not name it. */
type WithOptionalImpersonate<T> = Omit<T, "kubeImpersonate"> & { kubeImpersonate?: string };
export type CopyStageConfig = WithOptionalImpersonate<z.infer<typeof copyStageConfigSchema>>;
export type SwitchStageConfig = WithOptionalImpersonate<z.infer<typeof switchStageConfigSchema>>;
export type StackConfig = CopyStageConfig | SwitchStageConfig;

export class StackConfigError extends Error {
  override name = "StackConfigError";
}

/** Validates raw config values; throws one StackConfigError whose message names every problem, one per line. */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
  const result = stackConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join(".");
    return key && !issue.message.includes(key) ? `images-copier:${key}: ${issue.message}` : `images-copier: ${issue.message}`;
  });
  throw new StackConfigError(problems.join("\n"));
}

const BOOLEAN_KEYS = ["targetInsecure", "copierBundled", "copyUpdateImages", "copyReleaseChannel"] as const;
const NUMBER_KEYS = ["concurrency", "timeoutMinutes", "uploadChunkMiB"] as const;
const STRING_KEYS = ["stage", "targetImage", "targetUsername", "targetPassword", "targetCA", "copierImage", "runId", "imagesFile", "deckhouseVersion", "copyStack", "updates", "checkFrom", "copyModules", "copySecurityDatabases"] as const;

/** Reads the raw values from a Pulumi Config-like getter, so the schema above sees typed values. */
export function readStackConfig(config: { get(key: string): string | undefined }): StackConfig {
  const raw: Record<string, unknown> = {};
  // Pulumi.yaml gives optional keys the default "" (a declared key without a default is required in every stack).
  for (const key of STRING_KEYS) raw[key] = config.get(key) || undefined;
  // "" is meaningful here (no impersonation); only an absent key takes the default.
  raw.kubeImpersonate = config.get("kubeImpersonate");
  for (const key of NUMBER_KEYS) {
    const value = config.get(key);
    raw[key] = value === undefined ? undefined : Number(value);
  }
  for (const key of BOOLEAN_KEYS) {
    const value = config.get(key);
    raw[key] = value === undefined ? undefined : value === "true" ? true : value === "false" ? false : value;
  }
  return parseStackConfig(raw);
}
