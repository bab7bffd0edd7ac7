// `images-copier publish-image …`: reads the bundle, the platforms and the registry access, publishes the copier
// image and prints, as its last line, the pushed image pinned by digest. Exit 0 = pushed; 1 = a registry or network
// failure; 2 = bad input (one line naming the offending value).

import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { version } from "../../package.json";
import { ConfigError } from "../config";
import { InvalidReferenceError, parseImageReference } from "../reference";
import { ProxyConfigError, proxySettingsFromEnv } from "../transport/proxy";
import { baseAccess, PASSWORD_ENV, targetAccess, USERNAME_ENV, type AccessFlags } from "./access";
import { DEFAULT_PLATFORMS, parsePlatform, PlatformError } from "./platform";
import { publishCopierImage } from "./publish";

export const DEFAULT_BASE = "node:20-bookworm-slim";
/** The first line of every bundle scripts/bundle.js writes. */
const BUNDLE_BANNER = "#!/usr/bin/env node";

interface PublishFlags extends AccessFlags {
  target: string;
  base: string;
  platform?: string[];
  bundle?: string;
  concurrency: number;
}

export interface PublishContext {
  say(line: string): void;
  complain(line: string): void;
  warn(line: string): void;
  stdin?: NodeJS.ReadableStream;
  /** The bundle this process runs from, when it runs from one: published unless --bundle names another. */
  bundleFile?: string;
  setExitCode(code: number): void;
}

/** Declares the subcommand on the CLI's program. */
export function definePublishImage(program: Command, context: PublishContext, positiveInt: (value: string) => number): void {
  program
    .command("publish-image")
    .description("build the copier's image (a base image plus the bundled copier) and push it to a registry, without Docker")
    .requiredOption("--target <ref>", "where to push it, with a tag, e.g. registry.example.com/tools/images-copier:0.1.0")
    .option("--base <ref>", "the base image (an index with every platform asked for)", DEFAULT_BASE)
    .option("--platform <list>", `platforms to publish, os/arch[/variant], comma-separated or repeated (default ${DEFAULT_PLATFORMS.join(",")})`, collect)
    .option("--bundle <file>", "the bundled copier to put in the image (default: the bundle running this command)")
    .option("--config-dir <dir>", "take the target's credentials, insecure and ca from DIR/dest-repo.json (same registry only)")
    .option("--username <name>", `the target registry's user (or ${USERNAME_ENV}); the password comes from --password-stdin or ${PASSWORD_ENV}`)
    .option("--password-stdin", "read the target registry's password from standard input")
    .option("--ca <file>", "PEM of the CA of the target registry")
    .option("--insecure", "plain HTTP to the target registry")
    .option("--base-ca <file>", "PEM of the CA of the base image's registry, when it is another registry")
    .option("--docker-config <file>", "docker config.json with credentials for registries that have none from the options above")
    .option("--concurrency <n>", "concurrent network operations", positiveInt, 8)
    .action(async (flags: PublishFlags) => {
      context.setExitCode(await publishImage(flags, context));
    });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(",").filter((p) => p.trim() !== "")];
}

async function publishImage(flags: PublishFlags, context: PublishContext): Promise<number> {
  try {
    const platforms = (flags.platform ?? DEFAULT_PLATFORMS).map(parsePlatform);
    const bundle = await readBundle(flags.bundle ?? context.bundleFile);
    const targetRegistry = parseImageReference(flags.target).registry;
    const baseRegistry = parseImageReference(flags.base).registry;
    const proxy = proxySettingsFromEnv();
    const sources = { env: process.env, stdin: context.stdin };
    const [target, base] = await Promise.all([targetAccess(flags, targetRegistry, sources), baseAccess(flags, baseRegistry)]);
    const published = await publishCopierImage({
      target: flags.target,
      base: flags.base,
      platforms,
      bundle,
      version,
      targetAccess: { ...target, proxy },
      baseAccess: { ...base, proxy },
      concurrency: flags.concurrency,
      log: context.say,
      warn: context.warn,
    });
    context.say(published.reference);
    return 0;
  } catch (err) {
    context.complain((err as Error).message);
    const badInput = [ConfigError, InvalidReferenceError, PlatformError, ProxyConfigError].some((type) => err instanceof type);
    return badInput ? 2 : 1;
  }
}

async function readBundle(file: string | undefined): Promise<Buffer> {
  if (!file) throw new ConfigError("--bundle FILE is needed when this command does not run from the bundle (node scripts/bundle.js builds dist/images-copier.cjs)");
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new ConfigError(`--bundle ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (!bytes.subarray(0, BUNDLE_BANNER.length).equals(Buffer.from(BUNDLE_BANNER))) {
    throw new ConfigError(`--bundle ${file}: not a bundled copier (it must start with "${BUNDLE_BANNER}", as scripts/bundle.js writes it)`);
  }
  return bytes;
}
