// The contract between the two stacks: the copy stack exports it as its `copy` output, the switch stack reads it
// through a StackReference and switches only to the release it describes.
import { z } from "zod";

const digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, "must be sha256:<64 hex>");

/** What a copy run copied and how it ended. Fields marked "since the switch-safety change" are absent from older copy stacks. */
export const copyRecordSchema = z.object({
  status: z.enum(["succeeded", "failed", "timeout"]),
  /** The copier exits 0 only when every image is in the target and its digest verified. */
  verified: z.boolean(),
  /** The target image with its tag (the Deckhouse image's new reference). */
  targetImage: z.string().min(1),
  runId: z.string().optional(),
  /**
   * The Deckhouse image the copy copied: the deckhouse container's image exactly as it was in the Deployment, or in
   * Direct/Proxy (whose Deployment names the in-cluster registry) its tag in the mode's `imagesRepo`.
   */
  sourceImage: z.string().min(1).optional(),
  /** The manifest digest `sourceImage` resolved to in the source registry during the copy. */
  sourceDigest: digest.optional(),
  /** `host/path` the module images came from (a trailing `/dev` stripped). */
  sourceRepository: z.string().min(1).optional(),
  /** imagesListDigest of the image list that was copied. */
  imagesDigest: digest.optional(),
  /** Whether the release-channel and install images were copied too (`copyUpdateImages`). */
  updateImages: z.boolean().optional(),
  /**
   * `<target repo>:<original tag>`: the copied Deckhouse image under its source tag too (same digest), which
   * Deckhouse renders after a switch (legacy mode, from v1.76 whenever it differs). Absent from older copy stacks.
   */
  originalTagImage: z.string().min(1).optional(),
  /**
   * Where the copy read the vendor's registry: `legacy` (Secret deckhouse-registry and the Deployment) or the
   * configurable registry mode whose ModuleConfig section it read. Absent from older copy stacks (legacy then).
   */
  registryPath: z.enum(["legacy", "Unmanaged", "Direct", "Proxy"]).optional(),
  /** The running Deckhouse release as the copy stack found it (e.g. v1.58.2), for messages. */
  deckhouseVersion: z.string().min(1).optional(),
  images: z.number().int().nonnegative().optional(),
  copied: z.number().int().nonnegative().optional(),
  skipped: z.number().int().nonnegative().optional(),
  bytes: z.number().nonnegative().optional(),
  durationMs: z.number().nonnegative().optional(),
  /** Since the modules copy: counts per plan group (release, deckhouse, modules, security, updates). */
  groups: z
    .record(z.string(), z.object({ images: z.number().int().nonnegative(), copied: z.number().int().nonnegative(), skipped: z.number().int().nonnegative(), failed: z.number().int().nonnegative(), absent: z.number().int().nonnegative() }))
    .optional(),
  /** Since the modules copy: the modules of ModuleSource deckhouse that are in the target (name, version). */
  modules: z.array(z.object({ name: z.string().min(1), version: z.string().min(1) })).optional(),
  /** Since the modules copy: whether operator-trivy's databases were copied (or are absent in the source too). */
  securityDatabases: z.boolean().optional(),
  /** Since the modules copy: the release-channel tag copied for the cluster's channel. */
  releaseChannel: z.string().min(1).optional(),
});

export type CopyRecord = z.infer<typeof copyRecordSchema>;

/** The fields the switch needs to tie itself to the copied release; a record without them is from an older copy stack. */
export const RELEASE_FIELDS = ["sourceImage", "sourceDigest", "sourceRepository", "imagesDigest"] as const;
