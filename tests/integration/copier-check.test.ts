// `images-copier check` (the switch's check, also what its check Job runs), as the bundled CLI, against real
// registries on 127.0.0.1: Bearer token auth passes, htpasswd-only fails with exit 1, bad input exits 2; the
// last stdout line is the machine-readable report and no password is printed.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseCheckLine } from "../../copier";
import { ensureBundle, runBundle } from "../helpers/bundle";
import { removeDir, tempDir } from "../helpers/copy-fixture";
import { pushImage } from "../helpers/images";
import { startRegistry, type TestRegistry } from "../helpers/registry";

const PASSWORD = 'p"w:Check-Secret';
let token: TestRegistry;
let basic: TestRegistry;
let dir: string;
const present: Record<string, string> = {};

beforeAll(async () => {
  [token, basic] = await Promise.all([
    startRegistry({ tls: true, auth: "token", username: "client", password: PASSWORD }),
    startRegistry({ tls: true, auth: "basic", username: "client", password: PASSWORD }),
    ensureBundle(),
  ]);
  for (const reg of [token, basic]) present[reg.host] = (await pushImage(reg, "client/deckhouse", { format: "oci", seed: "check", layers: [{ size: 1024, seed: "check" }] }, "rs")).digest;
  dir = tempDir("copier-check");
}, 120_000);

afterAll(async () => {
  await Promise.all([token?.stop(), basic?.stop()]);
  removeDir(dir);
});

function configDir(reg: TestRegistry, password = PASSWORD): string {
  const d = join(dir, `${reg.host.replace(/\W/g, "-")}-${password.length}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "dest-repo.json"), JSON.stringify({ username: "client", password, insecure: false, image: `${reg.host}/client/deckhouse:rs`, ca: reg.caPem }));
  return d;
}

describe("images-copier check", () => {
  it("passes a Bearer token registry that holds every image, and reports each digest", async () => {
    const image = `${token.host}/client/deckhouse:rs`;
    const run = await runBundle(["check", "--config-dir", configDir(token), "--image", image]);
    expect(run.code).toBe(0);
    const report = parseCheckLine(run.stdout);
    expect(report).toMatchObject({ status: "passed", bearer: { ok: true, schemes: ["bearer"] }, images: [{ reference: image, exists: true, digest: present[token.host] }] });
    expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  });

  it("fails a registry with basic auth only (exit 1), saying so on stderr in one line", async () => {
    const run = await runBundle(["check", "--config-dir", configDir(basic), "--image", `${basic.host}/client/deckhouse:rs`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^images-copier: error: registry ${basic.host.replace(/\./g, "\\.")} answers GET /v2/ with 401 and only "basic" authentication; [^\\n]*\\n$`));
    expect(parseCheckLine(run.stdout)).toMatchObject({ status: "failed", bearer: { ok: false }, images: [{ exists: true }] });
  });

  it("fails when an image is missing or the password is wrong, never printing the password", async () => {
    const missing = `${token.host}/client/deckhouse:nope`;
    const run = await runBundle(["check", "--config-dir", configDir(token), "--image", missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`not in the target registry: ${missing}`);
    const wrong = await runBundle(["check", "--config-dir", configDir(token, "Wrong-Secret-123"), "--image", `${token.host}/client/deckhouse:rs`]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout + wrong.stderr).not.toContain("Wrong-Secret-123");
    expect(parseCheckLine(wrong.stdout)?.images[0]).toMatchObject({ exists: false, error: expect.stringMatching(/refused the credentials of user "client"/) });
  });

  it("exits 2 on bad input, naming it, with a report line", async () => {
    const none = await runBundle(["check", "--config-dir", join(dir, "absent"), "--image", "r.example/x:1"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/dest-repo\.json: file not found/);
    expect(parseCheckLine(none.stdout)).toMatchObject({ status: "failed", error: expect.stringMatching(/file not found/) });
    const bad = await runBundle(["check", "--config-dir", configDir(token), "--image", "Not A Reference"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"Not A Reference" contains white space/);
    expect((await runBundle(["check", "--image", "r.example/x:1"])).code).toBe(2);
  });
});
