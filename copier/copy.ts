// copyRelease: the whole run. Plans the images, connects to both registries (checking reachability and
// credentials first, so bad input fails once and clearly), copies every image through one bounded pool and
// returns a report of every image.

import { imagesListDigest, type ImagesList, type RepoConfig } from "./config";
import { Executor, type ImageResult } from "./execute";
import { planOriginalTag, planRelease, planUpdateImages, type ImageJob } from "./plan";
import { groupTotals, planModule, planReleaseChannel, planSecurityDatabases, releaseGroupOf, type Group, type GroupTotals } from "./plan-groups";
import { copyModule, type ModuleResult } from "./modules-copy";
import type { ModuleSpec } from "./modules-list";
import { Pool } from "./pool";
import { ProgressTracker, type ProgressSnapshot } from "./progress";
import { formatReference, parseImageReference } from "./reference";
import { RepositoryClient } from "./registry/client";
import { pullScope, pushScope } from "./transport/auth";
import type { ProxySettings } from "./transport/proxy";
import { redact } from "./transport/redact";
import { DEFAULT_RETRY, type RetryPolicy } from "./transport/retry";
import { RegistryTransport } from "./transport/transport";

export type { ImageResult } from "./execute";

export interface CopyReleaseOptions {
  source: RepoConfig;
  target: RepoConfig;
  images: ImagesList;
  /** Concurrent network operations across all images and blobs (default 16). */
  concurrency?: number;
  dryRun?: boolean;
  /** Also copy `<repo>/release-channel:<channel>` and `<repo>/install:<tag>`, so Deckhouse finds updates in the target. */
  withUpdateImages?: boolean;
  /** Modules of ModuleSource `deckhouse` to copy: image, release image and the components their list names. */
  modules?: ModuleSpec[];
  /** Also copy operator-trivy's databases `<repo>/security/…` (one the source lacks is `absent`). */
  withSecurityDatabases?: boolean;
  /** Also copy `<repo>/release-channel:<channel>` (kebab-case) when the update images are not copied anyway. */
  releaseChannel?: string;
  onProgress?: (snapshot: ProgressSnapshot) => void;
  logger?: (message: string) => void;
  retry?: Partial<RetryPolicy>;
  /** Stalled-server limits (defaults: 120 s for headers and between body chunks). */
  timeouts?: { headersMs?: number; bodyMs?: number; connectMs?: number };
  /** Upload blobs in chunks of this many bytes from the start (registries that need PATCH uploads, small body limits). */
  uploadChunkBytes?: number;
  /** The environment's proxy (proxySettingsFromEnv); both registries are reached directly without it. */
  proxy?: ProxySettings;
}

export interface CopyReport {
  status: "succeeded" | "failed";
  dryRun: boolean;
  source: string;
  target: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** `absent`: update images (release channel, installer) the source does not have; not failures. */
  totals: { images: number; copied: number; skipped: number; failed: number; missing: number; absent: number; bytes: number };
  /** The first failure, one line (absent on success). */
  error?: string;
  /** The manifest digest the source Deckhouse image resolved to during this run (absent when it was not read). */
  sourceDigest?: string;
  /** imagesListDigest of the list this run copied. */
  imagesDigest: string;
  /** Counts per plan group (release, deckhouse, modules, security, updates). */
  groups: Record<Group, GroupTotals>;
  /** One entry per module asked for (absent when none was). */
  modules?: ModuleResult[];
  images: ImageResult[];
  /**
   * The Deckhouse image pushed under its source tag too (`<target repo>:<original tag>`, same digest), which
   * Deckhouse may render after the switch; not counted in `totals` (the same image). Absent when the source has
   * no tag or the target's, or when the Deckhouse image itself was not copied.
   */
  originalTag?: ImageResult;
}

export async function copyRelease(options: CopyReleaseOptions): Promise<CopyReport> {
  const startedAt = new Date();
  const log = (message: string) => options.logger?.(redact(message));
  const releaseJobs = planRelease(options.source.image, options.target.image, options.images);
  const deckhouseJob = releaseJobs[releaseJobs.length - 1];
  const planned: Array<{ job: ImageJob; group: Group }> = [
    ...releaseJobs.map((job) => ({ job, group: releaseGroupOf(job, deckhouseJob.source) })),
    ...(options.withSecurityDatabases ? planSecurityDatabases(options.source.image, options.target.image).map((job) => ({ job, group: "security" as const })) : []),
    ...(options.withUpdateImages ? planUpdateImages(options.source.image, options.target.image).map((job) => ({ job, group: "updates" as const })) : []),
    ...(options.releaseChannel && !options.withUpdateImages
      ? [{ job: planReleaseChannel(options.source.image, options.target.image, options.releaseChannel), group: "updates" as const }]
      : []),
  ];
  const jobs = planned.map((p) => p.job);
  const modulePlans = (options.modules ?? []).map((m) => planModule(options.source.image, options.target.image, m));
  const sourceRepositories = [...new Set([...jobs.map((j) => j.source.repository), ...modulePlans.map((m) => m.source.repository)])];
  // Not twice when the list itself holds that tag (then it is pushed as a list image).
  const originalTagJob = [planOriginalTag(deckhouseJob)].find((extra) => extra && !jobs.some((j) => formatReference(j.target) === formatReference(extra.target)));
  const sourceRef = parseImageReference(options.source.image);
  const targetRef = parseImageReference(options.target.image);
  const concurrency = options.concurrency ?? 16;
  const pool = new Pool(concurrency);
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const sameRegistry = sourceRef.registry === targetRef.registry;

  const transportOptions = (repo: RepoConfig) => ({
    username: repo.username || undefined,
    password: repo.password || undefined,
    insecure: repo.insecure,
    ca: repo.ca,
    connections: concurrency + 4,
    headersTimeoutMs: options.timeouts?.headersMs,
    bodyTimeoutMs: options.timeouts?.bodyMs,
    connectTimeoutMs: options.timeouts?.connectMs,
    retry,
    onWarning: log,
    onRetry: log,
    proxy: options.proxy,
  });
  const sourceTransport = new RegistryTransport(sourceRef.registry, transportOptions(options.source));
  const targetTransport = new RegistryTransport(targetRef.registry, transportOptions(options.target));

  const sourceClients = new Map<string, RepositoryClient>();
  const targetClients = new Map<string, RepositoryClient>();
  const source = (repository: string) => {
    let client = sourceClients.get(repository);
    if (!client) sourceClients.set(repository, (client = new RepositoryClient(sourceTransport, repository, [pullScope(repository)])));
    return client;
  };
  const target = (repository: string) => {
    let client = targetClients.get(repository);
    if (!client) {
      // Within one registry, ask for pull on the source repositories too, so blobs can be mounted.
      const mountScopes = sameRegistry ? sourceRepositories.filter((r) => r !== repository).map(pullScope) : [];
      client = new RepositoryClient(targetTransport, repository, [pushScope(repository), ...mountScopes]);
      targetClients.set(repository, client);
    }
    return client;
  };

  const progress = new ProgressTracker(options.onProgress);
  // A module's components are known once its list is read: they are added to the total then.
  progress.imagesTotal = jobs.length + 2 * modulePlans.length + (originalTagJob ? 1 : 0);
  const results: ImageResult[] = [];
  const moduleResults: ModuleResult[] = [];
  let originalTag: ImageResult | undefined;
  let error: string | undefined;
  const ticker = options.onProgress ? setInterval(() => options.onProgress!(progress.snapshot()), 1000) : undefined;
  ticker?.unref();
  try {
    await preflight(deckhouseJob.source, source, target(targetRef.repository), formatReference(targetRef));
    const executor = new Executor({ pool, progress, retry, source, target, sameRegistry, dryRun: options.dryRun ?? false, log, chunkBytes: options.uploadChunkBytes });
    // A window of images in flight (the network pool stays full) so that images finish steadily and the
    // progress and ETA mean something; image tasks only wait on network tasks, never the reverse.
    const images = new Pool(Math.max(64, concurrency * 8));
    const running = planned.map(({ job, group }, order) => images.run(async () => ({ ...(await executor.copyImage(job, order)), group })));
    // Pinned to the digest the Deckhouse image resolved to, so both tags name one manifest even if the source tag moves.
    const pinned = (job: ImageJob, digest: string): ImageJob => ({ source: { registry: job.source.registry, repository: job.source.repository, digest }, target: job.target });
    const extra = originalTagJob
      ? running[jobs.indexOf(deckhouseJob)].then((r) => (r.digest && r.status !== "failed" ? executor.copyImage(pinned(originalTagJob, r.digest), jobs.length + modulePlans.length) : undefined))
      : undefined;
    const [plain, modules] = await Promise.all([
      Promise.all(running),
      Promise.all(
        modulePlans.map((plan, i) =>
          images.run(() => copyModule(plan, jobs.length + i, { executor, pool, progress, retry, source, log })),
        ),
      ),
    ]);
    results.push(...plain);
    for (const m of modules) {
      moduleResults.push(m.module);
      results.push(...m.images.map((r) => ({ ...r, group: "modules" as const, module: m.module.name })));
    }
    originalTag = await extra;
    const failed = [...results, ...(originalTag ? [originalTag] : [])].find((r) => r.status === "failed");
    const failedModule = moduleResults.find((m) => m.status === "failed");
    if (failed) error = failed.reason ?? `${failed.source}: failed`;
    else if (failedModule) error = failedModule.reason;
  } catch (err) {
    error = (err as Error).message;
  } finally {
    if (ticker) clearInterval(ticker);
    options.onProgress?.(progress.snapshot());
    await Promise.all([sourceTransport.close(), targetTransport.close()]);
  }
  for (const r of [...results, ...(originalTag ? [originalTag] : [])]) if (r.reason) r.reason = redact(r.reason);
  for (const m of moduleResults) if (m.reason) m.reason = redact(m.reason);

  const finishedAt = new Date();
  const count = (status: ImageResult["status"]) => results.filter((r) => r.status === status).length;
  const failedCount = error && results.length === 0 ? jobs.length + 2 * modulePlans.length : count("failed");
  const deckhouseResult = results[jobs.indexOf(deckhouseJob)];
  const groups = groupTotals(results);
  if (error && results.length === 0) {
    // Nothing ran (preflight): every planned image of every group counts as failed.
    for (const { group } of planned) {
      groups[group].failed++;
      groups[group].images++;
    }
    groups.modules.failed += 2 * modulePlans.length;
    groups.modules.images += 2 * modulePlans.length;
  }
  return {
    status: error ? "failed" : "succeeded",
    dryRun: options.dryRun ?? false,
    source: options.source.image,
    target: options.target.image,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    totals: {
      images: results.length > 0 ? results.length : jobs.length + 2 * modulePlans.length,
      copied: count("copied"),
      skipped: count("skipped"),
      failed: failedCount,
      missing: count("missing"),
      absent: count("absent"),
      bytes: results.reduce((sum, r) => sum + r.bytes, 0),
    },
    ...(error ? { error: redact(error) } : {}),
    ...(deckhouseResult?.digest ? { sourceDigest: deckhouseResult.digest } : {}),
    imagesDigest: imagesListDigest(options.images),
    groups,
    ...(modulePlans.length > 0 ? { modules: moduleResults } : {}),
    images: results,
    ...(originalTag ? { originalTag } : {}),
  };
}

/** Fails fast, with one clear reason, on an unreachable registry, wrong credentials or a missing source image. */
async function preflight(
  deckhouse: { repository: string; tag?: string; digest?: string },
  source: (repo: string) => RepositoryClient,
  target: RepositoryClient,
  targetImage: string,
): Promise<void> {
  const src = source(deckhouse.repository);
  const ref = (deckhouse.digest ?? deckhouse.tag) as string;
  const [found] = await Promise.all([
    src.headManifest(ref).catch((err: Error) => {
      throw new Error(`source: ${err.message}`);
    }),
    // Credentials first: the HEAD below takes 403 as "absent" (Artifactory), which would hide a wrong password.
    target.transport
      .checkCredentials(target.scopes)
      .then(() => target.headManifest(targetImage.slice(targetImage.lastIndexOf(":") + 1), true))
      .catch((err: Error) => {
        throw new Error(`target: ${err.message}`);
      }),
  ]);
  if (!found) throw new Error(`source image ${src.name}${deckhouse.digest ? "@" : ":"}${ref} not found`);
}
