// `images-copier copy …`: reads the config directory (and workstation flags), runs copyRelease with progress
// (a bar on a TTY, a line every few seconds otherwise), writes the report, and always ends stdout with the
// result line. Exit 0 = every image in the target and verified; 1 = a failed copy; 2 = bad input.
// `images-copier publish-image …` is declared in image/publish-command.ts.

import { Presets, SingleBar } from "cli-progress";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { defineCheckCommand } from "./check-command";
import { channelTag, parseModulesList, type ModuleSpec } from "./modules-list";
import { RELEASE_CHANNELS } from "./plan";
import { GROUPS, type Group, type GroupTotals } from "./plan-groups";
import { ConfigError, loadConfigDir, parseImagesList, readJsonFile, type ImagesList, type RepoConfig } from "./config";
import { copyRelease, type CopyReport } from "./copy";
import { credentialsFor, readDockerConfig } from "./docker-config";
import { formatBytes, formatProgress, type ProgressSnapshot } from "./progress";
import { InvalidReferenceError, parseImageReference, parseTaggedReference } from "./reference";
import { writeReport } from "./report";
import { formatResultLine, PROGRESS_LINE_PREFIX } from "./result-line";
import { definePublishImage } from "./image/publish-command";
import { describeProxy, ProxyConfigError, ProxyRoutes, proxySettingsFromEnv, type ProxySettings } from "./transport/proxy";
import { redact } from "./transport/redact";

interface CopyFlags {
  configDir?: string;
  images?: string;
  report?: string;
  concurrency: number;
  dryRun?: boolean;
  withUpdateImages?: boolean;
  withModules?: string;
  withSecurityDatabases?: boolean;
  withReleaseChannel?: string;
  sourceImage?: string;
  targetImage?: string;
  dockerConfig?: string;
  progressInterval: number;
  timeout?: number;
  chunkSize?: number;
}

class UsageError extends Error {}

export interface CliIo {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream;
  /** The bundle the process runs from (the bundle's entry passes its own file), for publish-image. */
  bundleFile?: string;
}

export async function runCli(argv: string[], io: CliIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const args = argv.length >= 2 && argv[0] === process.execPath ? argv.slice(2) : argv;
  const say = (line: string) => stdout.write(`${redact(line)}\n`);
  const complain = (line: string) => stderr.write(`images-copier: error: ${redact(line).replace(/\s*\n\s*/g, " ")}\n`);

  let exitCode = 0;
  const program = new Command("images-copier")
    .description("Copies the images of a Deckhouse release into another registry, verified by digest.")
    .exitOverride()
    .configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) });
  program
    .command("copy")
    .description("copy every image of the list and the Deckhouse image to the target registry")
    .option("--config-dir <dir>", "directory with d8-repo.json, dest-repo.json and d8-images.json")
    .option("--images <file>", "image list to use instead of d8-images.json")
    .option("--report <file>", "write a JSON report of every image to this file")
    .option("--concurrency <n>", "concurrent network operations", positiveInt, 16)
    .option("--dry-run", "only print what the target lacks; write nothing")
    .option("--with-update-images", "also copy <repo>/release-channel:<channel> and <repo>/install:<tag> (updates from the target)")
    .option("--with-modules <file>", "also copy these modules of ModuleSource deckhouse: a JSON list of {name, version, channel}")
    .option("--with-security-databases", "also copy operator-trivy's databases <repo>/security/trivy-db:2, trivy-bdu:1, trivy-java-db:1, trivy-checks:0")
    .option("--with-release-channel <channel>", "also copy <repo>/release-channel:<channel> (the cluster's channel; all of them come with --with-update-images)", releaseChannel)
    .option("--source-image <ref>", "the Deckhouse image to copy (overrides d8-repo.json image)")
    .option("--target-image <ref>", "the target image with its tag (overrides dest-repo.json image)")
    .option("--docker-config <file>", "docker config.json with credentials for registries lacking them")
    .option("--progress-interval <seconds>", "seconds between progress lines when not on a TTY", positiveInt, 5)
    .option("--chunk-size <MiB>", "upload blobs in chunks of this size from the start (otherwise only after a registry refuses a whole blob)", positiveInt)
    .option("--timeout <seconds>", "give up on a stalled request (no headers or no body bytes) after this long, then retry", positiveInt)
    .action(async (flags: CopyFlags) => {
      exitCode = await copyCommand(flags, { say, complain, stdout, stderr });
    });
  defineCheckCommand(program, { say, complain }, (code) => (exitCode = code));
  definePublishImage(
    program,
    {
      say,
      complain,
      warn: (line) => stderr.write(`images-copier: warning: ${redact(line)}\n`),
      stdin: io.stdin ?? process.stdin,
      bundleFile: io.bundleFile,
      setExitCode: (code) => {
        exitCode = code;
      },
    },
    positiveInt,
  );
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      return 2;
    }
    complain((err as Error).message);
    return 2;
  }
  return exitCode;
}

function releaseChannel(value: string): string {
  const tag = channelTag(value);
  if (!tag) throw new InvalidArgumentError(`must be one of ${RELEASE_CHANNELS.join(", ")} (or Stable, EarlyAccess, ...), got "${value}"`);
  return tag;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 256) throw new InvalidArgumentError("must be a whole number from 1 to 256");
  return n;
}

interface Output {
  say(line: string): void;
  complain(line: string): void;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

async function copyCommand(flags: CopyFlags, out: Output): Promise<number> {
  let source: RepoConfig;
  let target: RepoConfig;
  let images: ImagesList;
  let modules: ModuleSpec[] | undefined;
  let proxy: ProxySettings | undefined;
  const started = Date.now();
  try {
    ({ source, target, images } = await readInputs(flags));
    if (flags.withModules) modules = parseModulesList(await readJsonFile(flags.withModules), flags.withModules);
    proxy = proxySettingsFromEnv();
  } catch (err) {
    const message = (err as Error).message;
    out.complain(message);
    out.say(formatResultLine({ status: "failed", images: 0, copied: 0, skipped: 0, failed: 0, bytes: 0, durationMs: Date.now() - started, target: flags.targetImage ?? "", error: redact(message) }));
    return err instanceof ConfigError || err instanceof InvalidReferenceError || err instanceof UsageError || err instanceof ProxyConfigError ? 2 : 1;
  }
  if (proxy) for (const line of proxyRoutesOf([source, target], proxy)) out.stderr.write(`images-copier: ${line}\n`);

  const progress = startProgress(out, flags.progressInterval * 1000);
  let report: CopyReport;
  try {
    report = await copyRelease({
      source,
      target,
      images,
      concurrency: flags.concurrency,
      dryRun: flags.dryRun,
      withUpdateImages: flags.withUpdateImages,
      withSecurityDatabases: flags.withSecurityDatabases,
      releaseChannel: flags.withReleaseChannel,
      modules,
      ...(flags.timeout ? { timeouts: { headersMs: flags.timeout * 1000, bodyMs: flags.timeout * 1000 } } : {}),
      proxy,
      ...(flags.chunkSize ? { uploadChunkBytes: flags.chunkSize * 1024 * 1024 } : {}),
      onProgress: progress.update,
      logger: (message) => out.stderr.write(`images-copier: warning: ${redact(message)}\n`),
    });
  } catch (err) {
    progress.stop();
    const message = (err as Error).message;
    out.complain(message);
    out.say(formatResultLine({ status: "failed", images: 0, copied: 0, skipped: 0, failed: 0, bytes: 0, durationMs: Date.now() - started, target: target.image, error: redact(message) }));
    return err instanceof InvalidReferenceError ? 2 : 1;
  }
  progress.stop();

  for (const image of report.images) {
    if (image.status === "failed") out.say(`failed: ${image.source} -> ${image.target}: ${image.reason ?? "unknown reason"}`);
    if (image.status === "absent") out.say(`absent in the source (not copied): ${image.source}: ${image.reason ?? "not found"}`);
    if (image.status === "missing") out.say(`would copy: ${image.source} -> ${image.target} (${formatBytes(image.bytes)} of missing blobs)`);
  }
  for (const m of report.modules ?? []) {
    if (m.status === "failed") out.say(`module failed: ${m.reason ?? `${m.name} ${m.version}`}`);
  }
  const extra = report.originalTag;
  if (extra?.status === "failed") out.say(`failed: ${extra.source} -> ${extra.target}: ${extra.reason ?? "unknown reason"}`);
  if (extra && extra.status !== "failed") {
    out.say(`${extra.status === "missing" ? "would also tag" : "also tagged"}: ${extra.target} (the Deckhouse image under its current tag, which Deckhouse may render after the switch)`);
  }
  const t = report.totals;
  const absent = t.absent > 0 ? `, ${t.absent} absent in the source` : "";
  if (report.dryRun) {
    out.say(`dry run: ${t.missing} of ${t.images} images missing in the target (${formatBytes(t.bytes)} of blobs), ${t.skipped} already present${absent}; nothing written`);
  } else {
    out.say(`${t.images} images: ${t.copied} copied, ${t.skipped} already present, ${t.failed} failed${absent}; ${formatBytes(t.bytes)} in ${(report.durationMs / 1000).toFixed(1)}s`);
  }
  out.say(`by group: ${describeGroups(report.groups)}`);

  let reportError: string | undefined;
  if (flags.report) {
    try {
      await writeReport(flags.report, report);
    } catch (err) {
      reportError = (err as Error).message;
    }
  }
  const failed = report.status === "failed" || reportError !== undefined;
  if (failed) {
    const others = t.failed > 1 ? ` (and ${t.failed - 1} more failed images)` : "";
    out.complain(report.error ? `${report.error}${others}` : (reportError as string));
  }
  out.say(
    formatResultLine({
      status: failed ? "failed" : "succeeded",
      images: t.images,
      copied: t.copied,
      skipped: t.skipped,
      failed: t.failed,
      bytes: t.bytes,
      durationMs: report.durationMs,
      target: report.target,
      ...(report.dryRun ? { missing: t.missing } : {}),
      ...(failed ? { error: redact(report.error ?? reportError ?? "failed") } : {}),
      source: report.source,
      ...(report.sourceDigest ? { sourceDigest: report.sourceDigest } : {}),
      imagesDigest: report.imagesDigest,
      groups: report.groups,
      ...(report.modules ? { modules: report.modules.map(({ name, version, channel, status }) => ({ name, version, channel, status })) } : {}),
      ...(extra && (extra.status === "copied" || extra.status === "skipped") ? { originalTag: extra.target } : {}),
    }),
  );
  return failed ? 1 : 0;
}

async function readInputs(flags: CopyFlags): Promise<{ source: RepoConfig; target: RepoConfig; images: ImagesList }> {
  let source: RepoConfig | undefined;
  let target: RepoConfig | undefined;
  let images: ImagesList | undefined;
  if (flags.configDir) {
    const dir = await loadConfigDir(flags.configDir, { requireImages: !flags.images });
    ({ source, target, images } = dir);
  }
  if (flags.sourceImage) {
    parseImageReference(flags.sourceImage);
    source = { ...(source ?? { insecure: false }), image: flags.sourceImage } as RepoConfig;
  }
  if (flags.targetImage) {
    target = { ...(target ?? { insecure: false }), image: flags.targetImage } as RepoConfig;
  }
  if (!source || !target) throw new UsageError("give --config-dir DIR, or both --source-image and --target-image");
  parseTaggedReference(target.image, "target image");
  if (flags.images) images = parseImagesList(await readJsonFile(flags.images), flags.images);
  if (!images) throw new UsageError("no image list: d8-images.json in --config-dir, or --images FILE");

  // A workstation: credentials from docker's config.json where the repo JSON has none.
  const needs = [source, target].filter((c) => !c.username && !c.password);
  if (needs.length > 0) {
    const dockerConfig = await readDockerConfig(flags.dockerConfig).catch((err: Error) => {
      throw new UsageError(err.message);
    });
    if (dockerConfig) {
      for (const config of needs) {
        const creds = credentialsFor(dockerConfig, parseImageReference(config.image).registry);
        if (creds) Object.assign(config, creds);
      }
    }
  }
  return { source, target, images };
}

/** One line per registry saying how it is reached, so an operator behind a proxy sees which path each takes. */
function proxyRoutesOf(repos: RepoConfig[], proxy: ProxySettings): string[] {
  const routes = new ProxyRoutes(proxy);
  const registries = new Map(repos.map((r) => [parseImageReference(r.image).registry, r.insecure]));
  return [...registries].map(([registry, insecure]) => {
    const via = routes.proxyFor(new URL(`${insecure ? "http" : "https"}://${registry}/`));
    return via ? `${registry}: through proxy ${describeProxy(via)}` : `${registry}: direct (NO_PROXY or no proxy for its scheme)`;
  });
}

function startProgress(out: Output, intervalMs: number): { update: (s: ProgressSnapshot) => void; stop: () => void } {
  let latest: ProgressSnapshot | undefined;
  const tty = (out.stderr as NodeJS.WriteStream).isTTY === true;
  if (tty) {
    const bar = new SingleBar(
      { stream: out.stderr as NodeJS.WriteStream, format: "{bar} {value}/{total} images | {detail}", hideCursor: true, clearOnComplete: false },
      Presets.shades_classic,
    );
    let started = false;
    return {
      update: (s) => {
        latest = s;
        const detail = formatProgress(s).replace(/^images \S+ /, "");
        if (!started) {
          bar.start(s.imagesTotal, s.imagesDone, { detail });
          started = true;
        } else bar.update(s.imagesDone, { detail });
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let lastPrinted = -1;
  const timer = setInterval(() => {
    if (!latest) return;
    if (latest.imagesDone === lastPrinted && latest.imagesDone === latest.imagesTotal) return;
    lastPrinted = latest.imagesDone;
    out.say(`${PROGRESS_LINE_PREFIX}${formatProgress(latest)}`);
  }, intervalMs);
  timer.unref();
  return {
    update: (s) => {
      latest = s;
    },
    stop: () => clearInterval(timer),
  };
}

/** `release 7/7, deckhouse 1/1, modules 6/6 (2 modules), ...`: images in the target (copied or present) of those planned. */
function describeGroups(groups: Record<Group, GroupTotals>): string {
  return GROUPS.filter((g) => groups[g].images > 0)
    .map((g) => {
      const t = groups[g];
      const extra = [t.failed ? `${t.failed} failed` : "", t.absent ? `${t.absent} absent` : "", t.missing ? `${t.missing} missing` : ""].filter(Boolean).join(", ");
      return `${g} ${t.copied + t.skipped}/${t.images}${extra ? ` (${extra})` : ""}`;
    })
    .join(", ");
}
