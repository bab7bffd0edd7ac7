// Bad input and dry runs against real registries: wrong passwords, a target without a tag, a malformed image list,
// and --dry-run. Each must end with one clear line, the right exit code, no secret in any output, and an
// untouched target.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, RESULT_LINE_PREFIX } from "../../copier";
import {
  captureOutput, countLoggedRequests, lastLine, writeConfigDir, WRITES, type ConfigDirFiles,
} from "../helpers/copy-fixture";
import { skopeoListTags } from "../helpers/skopeo";
import { useCopyPair } from "../helpers/copy-pair";

const TARGET_PASSWORD = 'right"pass:word';
const SOURCE_PASSWORD = 'src"secret:value';
const WRONG_PASSWORD = 'wrong"guess:attempt';

describe("copier input errors and dry runs", () => {
  const pair = useCopyPair({
    source: { tls: true, auth: "token", username: "license-token", password: SOURCE_PASSWORD },
    target: { tls: true, auth: "basic", username: "customer", password: TARGET_PASSWORD },
    repo: "deckhouse/ee",
    seed: { tagged: 3, digestOnly: 1, multiArch: 1 },
    name: "input-test",
  });
  let counter = 0;

  function files(overrides: Partial<ConfigDirFiles> = {}): ConfigDirFiles {
    return {
      dest: pair.target.repoConfig("customer/deckhouse:v1.46.3-mirror"),
      source: pair.source.repoConfig(pair.release.deckhouseImage),
      images: pair.release.images,
      ...overrides,
    };
  }

  async function runWith(config: ConfigDirFiles, extra: string[] = []) {
    const dir = join(pair.work, `config-${++counter}`);
    mkdirSync(dir);
    writeConfigDir(config, dir);
    const report = join(pair.work, `report-${counter}.json`);
    const run = await captureOutput(() => runCli(["copy", "--config-dir", dir, "--report", report, ...extra]));
    const reportText = existsSync(report) ? readFileSync(report, "utf8") : "";
    const errorLines = run.stderr.split("\n").filter((l) => l.startsWith("images-copier: error:"));
    return { ...run, reportText, errorLines };
  }

  function expectNoSecrets(...texts: string[]): void {
    for (const secret of [TARGET_PASSWORD, SOURCE_PASSWORD, WRONG_PASSWORD]) {
      for (const text of texts) expect(text).not.toContain(secret);
    }
    for (const [user, pw] of [["customer", WRONG_PASSWORD], ["license-token", WRONG_PASSWORD], ["license-token", SOURCE_PASSWORD]]) {
      for (const text of texts) expect(text).not.toContain(Buffer.from(`${user}:${pw}`).toString("base64"));
    }
  }

  async function expectTargetUntouched(writesBefore: number): Promise<void> {
    expect(countLoggedRequests(pair.target, WRITES, /^2/)).toBe(writesBefore);
    expect(await skopeoListTags(pair.target, "customer/deckhouse")).toEqual([]);
  }

  it("refuses a wrong target password with one clear line, exit 1 and no password anywhere", async () => {
    const writes = countLoggedRequests(pair.target, WRITES, /^2/);
    const dest = { ...pair.target.repoConfig("customer/deckhouse:v1.46.3-mirror"), password: WRONG_PASSWORD };
    const run = await runWith(files({ dest }));
    expect(run.result).toBe(1);
    expect(run.errorLines).toHaveLength(1);
    expect(run.errorLines[0]).toMatch(/unauthori[sz]ed|authenticat|credential|denied|401|password/i);
    expect(run.errorLines[0]).toContain(pair.target.host);
    expect(lastLine(run.stdout)).toContain(`${RESULT_LINE_PREFIX}{"status":"failed"`);
    expectNoSecrets(run.stdout, run.stderr, run.reportText);
    await expectTargetUntouched(writes);
  });

  it("refuses a wrong source password (token server) the same way", async () => {
    const writes = countLoggedRequests(pair.target, WRITES, /^2/);
    const src = { ...pair.source.repoConfig(pair.release.deckhouseImage), password: WRONG_PASSWORD };
    const run = await runWith(files({ source: src }));
    expect(run.result).toBe(1);
    expect(run.errorLines).toHaveLength(1);
    expect(run.errorLines[0]).toMatch(/unauthori[sz]ed|authenticat|credential|denied|401|password/i);
    expect(run.errorLines[0]).toContain(pair.source.host);
    expectNoSecrets(run.stdout, run.stderr, run.reportText);
    await expectTargetUntouched(writes);
  });

  it("refuses a TLS target whose CA it was not given, naming the certificate problem", async () => {
    const writes = countLoggedRequests(pair.target, WRITES, /^2/);
    const { ca: _ca, ...dest } = pair.target.repoConfig("customer/deckhouse:v1.46.3-mirror");
    const run = await runWith(files({ dest }));
    expect(run.result).toBe(1);
    expect(run.errorLines).toHaveLength(1);
    expect(run.errorLines[0]).toMatch(/certificate|x509|tls|self[- ]signed|\bca\b/i);
    expect(run.errorLines[0]).toContain(pair.target.host);
    expectNoSecrets(run.stdout, run.stderr, run.reportText);
    await expectTargetUntouched(writes);
  });

  it("refuses a target image without a tag: exit 2, a clear error, nothing copied", async () => {
    const writes = countLoggedRequests(pair.target, WRITES, /^2/);
    const run = await runWith(files({ dest: pair.target.repoConfig("customer/deckhouse") }));
    expect(run.result).toBe(2);
    expect(run.errorLines).toHaveLength(1);
    expect(run.errorLines[0]).toMatch(/tag/i);
    expect(run.errorLines[0]).toContain("customer/deckhouse");
    expectNoSecrets(run.stdout, run.stderr, run.reportText);
    await expectTargetUntouched(writes);
  });

  it.each([
    ["not JSON", '{"common": {"kubeRbacProxy": ', /d8-images\.json: not valid JSON/],
    ["three levels deep", JSON.stringify({ common: { kubeRbacProxy: { nested: "v1" } } }), /d8-images\.json: common\.kubeRbacProxy: must be a tag or a sha256 digest, got \{"nested":"v1"\}$/],
    ["a value that is neither tag nor digest", JSON.stringify({ common: { kubeRbacProxy: "bad tag value!" } }), /d8-images\.json: common\.kubeRbacProxy: must be a tag or a sha256 digest, got "bad tag value!"$/],
  ])("refuses a malformed d8-images.json (%s) with a one-line error and exit 2", async (_what, text, error) => {
    const writes = countLoggedRequests(pair.target, WRITES, /^2/);
    const run = await runWith(files({ images: text }));
    expect(run.result).toBe(2);
    expect(run.errorLines).toHaveLength(1);
    expect(run.errorLines[0]).toMatch(error);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    await expectTargetUntouched(writes);
  });

  it("--dry-run lists what would be copied and writes nothing to the target", async () => {
    const writes = countLoggedRequests(pair.target, WRITES, /^2/);
    const run = await runWith(files(), ["--dry-run"]);
    expect({ exit: run.result, stderr: run.stderr }).toEqual({ exit: 0, stderr: expect.any(String) });
    const listed = run.stdout + run.reportText;
    for (const entry of pair.release.entries) expect(listed).toContain(entry.value);
    expect(listed).toContain("customer/deckhouse:v1.46.3-mirror");
    expectNoSecrets(run.stdout, run.stderr, run.reportText);
    await expectTargetUntouched(writes);
  });
});
