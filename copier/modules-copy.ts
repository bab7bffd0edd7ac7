// One module of ModuleSource `deckhouse`: read its image's own images_digests.json from the source (streamed),
// copy every component it names to `<repo>/modules/<name>@sha256:…`, then the module image `:<version>` and its
// `release:<channel>` image. The module's tags go last, so the target never shows a module version whose
// components are missing; a broken module fails alone, with one line saying why, and the run goes on.

import type { ImageResult } from "./execute";
import type { Executor } from "./execute";
import { ModuleListError, readModuleDigests } from "./module-digests";
import type { ModuleSpec } from "./modules-list";
import type { ModulePlan } from "./plan-groups";
import type { Pool } from "./pool";
import type { ProgressTracker } from "./progress";
import { formatReference } from "./reference";
import type { RepositoryClient } from "./registry/client";
import { RegistryError } from "./registry/errors";
import type { RetryPolicy } from "./transport/retry";

export interface ModuleResult extends ModuleSpec {
  /** `copied`: something was written; `skipped`: all there already; `missing`: a dry run found work. */
  status: "copied" | "skipped" | "failed" | "missing";
  reason?: string;
  /** Images of the module: its image, its release image and its components. */
  images: number;
  components: number;
}

export interface ModuleCopyDeps {
  executor: Executor;
  pool: Pool;
  progress: ProgressTracker;
  retry: RetryPolicy;
  source(repository: string): RepositoryClient;
  log(message: string): void;
}

/** LOOKUP priority band of the executor: reading a module's list is a lookup of that module's work. */
const LOOKUP = 1_000_000;

export async function copyModule(plan: ModulePlan, order: number, deps: ModuleCopyDeps): Promise<{ module: ModuleResult; images: ImageResult[] }> {
  const { module } = plan;
  const label = `module ${module.name} ${module.version}`;
  const imageRef = formatReference(plan.image.source);
  const tagged = [plan.image, plan.release];
  const fail = (reason: string, done: ImageResult[] = []) => {
    // The module's own tags are not written; they count as failed images of the run.
    const notCopied = tagged.map((job): ImageResult => {
      deps.progress.imageFinished("failed");
      return { source: formatReference(job.source), target: formatReference(job.target), status: "failed", reason: `${label}: not copied (${reason})`, bytes: 0 };
    });
    return { module: { ...module, status: "failed" as const, reason: `${label}: ${reason}`, images: 2 + done.length, components: done.length }, images: [...done, ...notCopied] };
  };

  let digests: string[];
  try {
    const src = deps.source(plan.source.repository);
    const manifest = await deps.pool.run(() => src.getManifest(module.version), LOOKUP + order);
    digests = await deps.pool.run(() => readModuleDigests(src, manifest, imageRef, { retry: deps.retry, log: deps.log }), LOOKUP + order);
  } catch (err) {
    const notFound = err instanceof RegistryError && err.status === 404;
    const reason = notFound ? `${imageRef} is not in the source` : oneLine(err instanceof ModuleListError ? err.message.replace(`${imageRef}: `, "") : (err as Error).message);
    return fail(reason);
  }

  deps.progress.imagesTotal += digests.length;
  const components = await Promise.all(digests.map((d) => deps.executor.copyImage(plan.component(d), order)));
  const broken = components.find((r) => r.status === "failed");
  if (broken) {
    const more = components.filter((r) => r.status === "failed").length - 1;
    return fail(`component ${broken.source} failed${more > 0 ? ` (and ${more} more)` : ""}: ${oneLine(broken.reason ?? "unknown reason")}`, components);
  }
  const own = await Promise.all(tagged.map((job) => deps.executor.copyImage(job, order)));
  const images = [...components, ...own];
  const failed = own.find((r) => r.status === "failed");
  const status = failed ? "failed" : images.some((r) => r.status === "missing") ? "missing" : images.some((r) => r.status === "copied") ? "copied" : "skipped";
  return {
    module: { ...module, status, ...(failed ? { reason: `${label}: ${oneLine(failed.reason ?? "failed")}` } : {}), images: images.length, components: components.length },
    images,
  };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}
