// `images-copier check --config-dir DIR --image REF…`: what the switch stack checks before it changes anything,
// runnable where only the cluster reaches the target registry (the switch's check Job). It checks that the target
// registry asks for Bearer tokens (as Deckhouse's `change-registry` does) and that every image exists, and ends
// stdout with one machine-readable line. Exit 0 = both hold; 1 = a check failed; 2 = bad input.

import type { Command } from "commander";
import * as path from "node:path";
import * as z from "zod";
import { checkBearerAuth, type BearerCheckResult } from "./check-bearer";
import { checkImagesExist, type ExistenceResult } from "./check-images";
import { ConfigError, parseRepoConfig, readJsonFile } from "./config";
import { InvalidReferenceError, parseImageReference } from "./reference";
import { parseLastLine } from "./result-line";
import { ProxyConfigError, proxySettingsFromEnv } from "./transport/proxy";

export const CHECK_LINE_PREFIX = "images-copier check: ";

export interface CheckReport {
  status: "passed" | "failed";
  bearer?: BearerCheckResult;
  images: ExistenceResult[];
  /** Bad input: the one-line reason. */
  error?: string;
}

interface CheckFlags {
  configDir: string;
  image: string[];
}

interface CheckIo {
  say(line: string): void;
  complain(line: string): void;
}

/** Built per call: the switch's dynamic provider parses the line, and a zod schema object does not serialize. */
function checkReportSchema() {
  const bearer = z.object({ registry: z.string(), ok: z.boolean(), status: z.number().optional(), schemes: z.array(z.string()), message: z.string() });
  const image = z.object({ reference: z.string(), exists: z.boolean(), digest: z.string().optional(), error: z.string().optional() });
  return z.object({ status: z.enum(["passed", "failed"]), bearer: bearer.optional(), images: z.array(image), error: z.string().optional() });
}

export function formatCheckLine(report: CheckReport): string {
  return `${CHECK_LINE_PREFIX}${JSON.stringify(report)}`;
}

/** The report of the last check line in `text` (a pod's log); undefined when there is none. */
export function parseCheckLine(text: string): CheckReport | undefined {
  return parseLastLine(text, CHECK_LINE_PREFIX, checkReportSchema());
}

async function runCheck(flags: CheckFlags, io: CheckIo): Promise<number> {
  let report: CheckReport;
  try {
    const file = path.join(flags.configDir, "dest-repo.json");
    const target = parseRepoConfig(await readJsonFile(file), file);
    for (const reference of flags.image) parseImageReference(reference);
    const proxy = proxySettingsFromEnv();
    const registry = parseImageReference(target.image).registry;
    const access = { username: target.username, password: target.password, insecure: target.insecure, ca: target.ca, proxy };
    const [bearer, images] = await Promise.all([checkBearerAuth(registry, access), checkImagesExist(flags.image, access)]);
    const passed = bearer.ok && images.every((i) => i.exists);
    report = { status: passed ? "passed" : "failed", bearer, images };
  } catch (err) {
    const bad = err instanceof ConfigError || err instanceof InvalidReferenceError || err instanceof ProxyConfigError;
    if (!bad) throw err;
    io.complain((err as Error).message);
    io.say(formatCheckLine({ status: "failed", images: [], error: (err as Error).message }));
    return 2;
  }
  if (report.bearer && !report.bearer.ok) io.complain(report.bearer.message);
  for (const image of report.images) {
    if (image.exists) io.say(`present: ${image.reference} (${image.digest ?? "no digest"})`);
    else io.complain(`not in the target registry: ${image.reference}${image.error ? ` (${image.error})` : ""}`);
  }
  io.say(formatCheckLine(report));
  return report.status === "passed" ? 0 : 1;
}

/** Adds the `check` command to the CLI; `done` receives its exit status. */
export function defineCheckCommand(program: Command, io: CheckIo, done: (code: number) => void): void {
  program
    .command("check")
    .description("check that the target registry asks for Bearer tokens and that every --image exists in it")
    .requiredOption("--config-dir <dir>", "directory with dest-repo.json (the target registry's access)")
    .option("--image <ref>", "an image that must exist (repeat it)", (value: string, all: string[]) => [...all, value], [] as string[])
    .action(async (flags: CheckFlags) => {
      done(await runCheck(flags, io));
    });
}
