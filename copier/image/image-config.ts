// The copier image's config: the base's config with the copier layer's diff_id appended, a history entry for it,
// user 1000, labels naming the copier's version and the bundle's digest, and the same entrypoint, command and
// environment as the image `Dockerfile` builds. Every other field of the base is kept; `created` stays the base's,
// so the result depends only on the base and the bundle.

import * as z from "zod";
import { COPIER_DIR, COPIER_PATH, COPIER_UID } from "./layer";

export const LABELS = {
  version: "io.deckhouse.images-copier.version",
  bundleDigest: "io.deckhouse.images-copier.bundle-digest",
} as const;

/** Variables the Dockerfile sets: a HOME the read-only root filesystem cannot break, and production mode. */
const ENV = { HOME: "/tmp", NODE_ENV: "production" };

const imageConfigSchema = z
  .object({
    created: z.string().optional(),
    config: z
      .object({
        Env: z.array(z.string()).nullish(),
        Labels: z.record(z.string(), z.string()).nullish(),
      })
      .loose()
      .nullish(),
    rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(z.string()) }).loose(),
    history: z.array(z.object({}).loose()).nullish(),
  })
  .loose();

export class ImageConfigError extends Error {
  override name = "ImageConfigError";
}

export interface CopierConfigInput {
  /** The base image's config blob. */
  base: Buffer;
  /** How many layers the base manifest lists (must equal the base's diff_ids). */
  baseLayers: number;
  diffId: string;
  version: string;
  bundleDigest: string;
  /** Names the base platform in errors. */
  what: string;
}

export function copierImageConfig(input: CopierConfigInput): Buffer {
  let json: unknown;
  try {
    json = JSON.parse(input.base.toString("utf8"));
  } catch {
    throw new ImageConfigError(`${input.what}: the image config is not valid JSON`);
  }
  const parsed = imageConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ImageConfigError(`${input.what}: unusable image config (${issue.path.join(".") || "config"}: ${issue.message})`);
  }
  const config = parsed.data;
  if (config.rootfs.diff_ids.length !== input.baseLayers) {
    throw new ImageConfigError(`${input.what}: the image config lists ${config.rootfs.diff_ids.length} layer diff_ids, its manifest ${input.baseLayers} layers`);
  }
  const run = { ...(config.config ?? {}) };
  run.User = String(COPIER_UID);
  run.Env = withEnv(run.Env ?? [], ENV);
  run.Entrypoint = ["node", COPIER_PATH];
  run.Cmd = ["--help"];
  run.Labels = { ...(run.Labels ?? {}), [LABELS.version]: input.version, [LABELS.bundleDigest]: input.bundleDigest };
  config.config = run;
  config.rootfs.diff_ids = [...config.rootfs.diff_ids, input.diffId];
  // History is optional; when present it must go on describing every layer.
  if (config.history) {
    config.history = [
      ...config.history,
      {
        ...(config.created ? { created: config.created } : {}),
        created_by: `images-copier publish-image: ${COPIER_PATH} (bundle ${input.bundleDigest}, owner ${COPIER_UID}:${COPIER_UID}, in ${COPIER_DIR})`,
        comment: `images-copier ${input.version}`,
      },
    ];
  }
  return Buffer.from(JSON.stringify(config));
}

/** `env` with each of `vars` set, an existing entry of the same name replaced. */
function withEnv(env: string[], vars: Record<string, string>): string[] {
  const out = env.filter((entry) => !(entry.split("=")[0] in vars));
  for (const [name, value] of Object.entries(vars)) out.push(`${name}=${value}`);
  return out;
}
