// `--with-modules` and `--with-security-databases` between real registries (TLS, token auth on the source, basic
// on the target): a module whose image holds an images_digests.json naming two components (one a multi-arch
// index) lands with its release image and components under `<repo>/modules/<name>@sha256:…`, the four trivy
// databases land under `<repo>/security/…`, every one checked with skopeo; a module without a list and one whose
// list names a missing image fail alone, with one line each, and nothing of theirs is tagged in the target.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RESULT_LINE_PREFIX, runCli } from "../../copier";
import { pushImage, pushMultiArch, seedRelease, type SeededRelease } from "../helpers/images";
import { pushModuleImage, pushModuleRelease, pushTarImage, pushTrivyDatabase } from "../helpers/module-image";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { skopeoDigestOrAbsent, skopeoListTags, skopeoManifestDigest } from "../helpers/skopeo";
import { captureOutput, countLoggedRequests, lastLine, removeDir, tempDir, writeConfigDir } from "../helpers/copy-fixture";

const SOURCE_REPO = "deckhouse/ee";
const TARGET_REPO = "mirror/deckhouse";
const MODULES = `${SOURCE_REPO}/modules`;
const DATABASES = ["trivy-db:2", "trivy-bdu:1", "trivy-java-db:1", "trivy-checks:0"];
const MISSING = `sha256:${"e".repeat(64)}`;

describe("copy with --with-modules and --with-security-databases", () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let release: SeededRelease;
  let dir: string;
  let configDir: string;
  const digests: Record<string, string> = {};

  beforeAll(async () => {
    [source, target] = await Promise.all([startRegistry({ tls: true, auth: "token" }), startRegistry({ tls: true, auth: "basic" })]);
    release = await seedRelease(source, SOURCE_REPO, { tagged: 1, digestOnly: 0, multiArch: 0, seed: "modules", deckhouseTag: "v1.70.1" });
    const backend = await pushImage(source, `${MODULES}/console`, { format: "docker", seed: "console-backend", layers: [{ size: 16 * 1024, seed: "console-backend" }] });
    const frontend = await pushMultiArch(source, `${MODULES}/console`, { format: "oci", seed: "console-frontend", layers: [{ size: 8 * 1024, seed: "console-frontend" }] });
    digests.backend = backend.digest;
    digests.frontend = frontend.digest;
    digests.module = (await pushModuleImage(source, MODULES, "console", "v1.2.3", { backend: backend.digest, frontend: frontend.digest })).digest;
    digests.release = (await pushModuleRelease(source, MODULES, "console", "v1.2.3", "stable")).digest;
    // broken ones: no list inside; a list naming an image the source lacks (next to one it has)
    await pushModuleImage(source, MODULES, "no-list", "v0.1.0", undefined);
    await pushModuleRelease(source, MODULES, "no-list", "v0.1.0", "stable");
    const present = await pushImage(source, `${MODULES}/half`, { format: "oci", seed: "half-ok", layers: [{ size: 4096, seed: "half-ok" }] });
    digests.halfPresent = present.digest;
    await pushModuleImage(source, MODULES, "half", "v2.0.0", { half: { ok: present.digest, gone: MISSING } });
    await pushModuleRelease(source, MODULES, "half", "v2.0.0", "stable");
    for (const db of DATABASES) {
      const [name, tag] = db.split(":");
      digests[db] = (await pushTrivyDatabase(source, `${SOURCE_REPO}/security/${name}`, tag)).digest;
    }
    dir = tempDir("modules-test");
    configDir = writeConfigDir({ dest: target.repoConfig(`${TARGET_REPO}:v1.70.1`), source: source.repoConfig(release.deckhouseImage), images: release.images });
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    removeDir(dir);
    removeDir(configDir);
  });

  const modulesFile = (list: unknown) => {
    const file = join(dir, `modules-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(list));
    return file;
  };
  const run = (...extra: string[]) => captureOutput(() => runCli(["copy", "--config-dir", configDir, "--concurrency", "4", ...extra]));
  const result = (stdout: string) => JSON.parse(lastLine(stdout).slice(RESULT_LINE_PREFIX.length));

  it("refuses a bad modules file in one line naming the value, before any request", async () => {
    const bad = await run("--with-modules", modulesFile([{ name: "console", version: "1.2.3", channel: "Stabel" }]));
    expect(bad.result).toBe(2);
    const lines = bad.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/images-copier: error: .*modules-\w+\.json \[0\]\.channel: channel must be one of alpha, .* got "Stabel"$/);
    const twice = await run("--with-modules", modulesFile([{ name: "console", version: "v1.2.3", channel: "Stable" }, { name: "console", version: "v1.2.4", channel: "Stable" }]));
    expect(twice.result).toBe(2);
    expect(twice.stderr).toMatch(/\[1\]\.name: module "console" is listed twice/);
    expect(await skopeoListTags(target, TARGET_REPO)).toEqual([]);
  });

  it("a dry run reads the module's list and says what is missing, writing nothing", async () => {
    const dry = await run("--with-modules", modulesFile([{ name: "console", version: "v1.2.3", channel: "stable" }]), "--with-security-databases", "--dry-run");
    expect(dry.result).toBe(0);
    expect(result(dry.stdout)).toMatchObject({
      status: "succeeded",
      groups: { modules: { images: 4, missing: 4 }, security: { images: 4, missing: 4 } },
      modules: [{ name: "console", version: "v1.2.3", channel: "stable", status: "missing" }],
    });
    expect(dry.stdout).toContain(`would copy: ${source.host}/${MODULES}/console@${digests.frontend} -> ${target.host}/${TARGET_REPO}/modules/console@${digests.frontend}`);
    expect(await skopeoListTags(target, `${TARGET_REPO}/modules/console`)).toEqual([]);
  });

  it("copies the good module, its components and the databases; the broken modules fail alone", async () => {
    const reportFile = join(dir, "report.json");
    const list = [
      { name: "console", version: "1.2.3", channel: "Stable" },
      { name: "no-list", version: "v0.1.0", channel: "stable" },
      { name: "half", version: "v2.0.0", channel: "Stable" },
    ];
    const { result: code, stdout, stderr } = await run("--with-modules", modulesFile(list), "--with-security-databases", "--report", reportFile);
    expect(code).toBe(1);

    // the good module: every image in the target with the source's digest
    const mod = `${TARGET_REPO}/modules/console`;
    expect(await skopeoManifestDigest(target, `${mod}:v1.2.3`)).toBe(digests.module);
    expect(await skopeoManifestDigest(target, `${mod}/release:stable`)).toBe(digests.release);
    expect(await skopeoManifestDigest(target, `${mod}@${digests.backend}`)).toBe(digests.backend);
    expect(await skopeoManifestDigest(target, `${mod}@${digests.frontend}`)).toBe(digests.frontend);
    for (const db of DATABASES) expect(await skopeoManifestDigest(target, `${TARGET_REPO}/security/${db}`)).toBe(digests[db]);
    // the release itself
    for (const ref of release.references) {
      const at = ref.slice(`${source.host}/${SOURCE_REPO}`.length);
      const targetRef = at.startsWith(":v1.70.1") ? `${TARGET_REPO}:v1.70.1` : `${TARGET_REPO}${at}`;
      expect(await skopeoDigestOrAbsent(target, targetRef)).toBeDefined();
    }

    // the broken modules: neither version nor channel tagged in the target
    expect(await skopeoDigestOrAbsent(target, `${TARGET_REPO}/modules/no-list:v0.1.0`)).toBeUndefined();
    expect(await skopeoDigestOrAbsent(target, `${TARGET_REPO}/modules/no-list/release:stable`)).toBeUndefined();
    expect(await skopeoDigestOrAbsent(target, `${TARGET_REPO}/modules/half:v2.0.0`)).toBeUndefined();
    expect(await skopeoDigestOrAbsent(target, `${TARGET_REPO}/modules/half/release:stable`)).toBeUndefined();

    const failures = stdout.split("\n").filter((l) => l.startsWith("module failed: "));
    expect(failures).toEqual([
      `module failed: module no-list v0.1.0: no images_digests.json in the module image`,
      expect.stringMatching(new RegExp(`^module failed: module half v2\\.0\\.0: component ${source.host}/${MODULES}/half@${MISSING} failed: .*(MANIFEST_UNKNOWN|not found|404)`)),
    ]);
    expect(stderr.split("\n").filter((l) => l.includes("images-copier: error:"))).toHaveLength(1);

    const report = JSON.parse(readFileSync(reportFile, "utf8"));
    expect(report.modules).toEqual([
      expect.objectContaining({ name: "console", version: "v1.2.3", channel: "stable", status: "copied", images: 4, components: 2 }),
      expect.objectContaining({ name: "no-list", status: "failed", components: 0 }),
      expect.objectContaining({ name: "half", status: "failed", components: 2 }),
    ]);
    const n = release.references.length;
    expect(report.groups).toEqual({
      release: { images: n - 1, copied: n - 1, skipped: 0, failed: 0, missing: 0, absent: 0 },
      deckhouse: { images: 1, copied: 1, skipped: 0, failed: 0, missing: 0, absent: 0 },
      // console 4, no-list 2 (not copied), half 2 components (1 copied) + 2 (not copied)
      modules: { images: 10, copied: 5, skipped: 0, failed: 5, missing: 0, absent: 0 },
      security: { images: 4, copied: 4, skipped: 0, failed: 0, missing: 0, absent: 0 },
      updates: { images: 0, copied: 0, skipped: 0, failed: 0, missing: 0, absent: 0 },
    });
    expect(result(stdout)).toMatchObject({
      status: "failed",
      failed: 5,
      groups: { modules: { images: 10, failed: 5 }, security: { images: 4, copied: 4 } },
      modules: [
        { name: "console", version: "v1.2.3", channel: "stable", status: "copied" },
        { name: "no-list", status: "failed" },
        { name: "half", status: "failed" },
      ],
    });
    expect(stdout).toContain("by group: release ");
  });

  it("the list of the top-most layer counts: a later layer replaces it or removes it (whiteout); a value must be a digest", async () => {
    const present = (await pushImage(source, `${MODULES}/replaced`, { format: "oci", seed: "replaced-part", layers: [{ size: 2048, seed: "replaced-part" }] })).digest;
    const list = (value: unknown) => ({ "images_digests.json": JSON.stringify(value) });
    const push = async (name: string, layers: Array<Record<string, string>>) => {
      const image = await pushTarImage(source, `${MODULES}/${name}`, layers, { tag: "v1.0.0", seed: `layers:${name}` });
      await pushModuleRelease(source, MODULES, name, "v1.0.0", "stable");
      return image.blobs.slice(1); // the layers, bottom first
    };
    // the first layer's list names a missing image, the second's replaces it with one the source has
    const [bottom] = await push("replaced", [list({ a: MISSING }), { "other.txt": "x" }, list({ a: present })]);
    await push("removed", [list({ a: present }), { ".wh.images_digests.json": "" }]);
    await push("tagged", [list({ a: "v1.0" })]);
    const { result: code, stdout } = await run("--with-modules", modulesFile(["replaced", "removed", "tagged"].map((name) => ({ name, version: "v1.0.0", channel: "stable" }))));
    expect(code).toBe(1);
    expect(result(stdout).modules).toEqual([
      { name: "replaced", version: "v1.0.0", channel: "stable", status: "copied" },
      { name: "removed", version: "v1.0.0", channel: "stable", status: "failed" },
      { name: "tagged", version: "v1.0.0", channel: "stable", status: "failed" },
    ]);
    expect(stdout.split("\n").filter((l) => l.startsWith("module failed: "))).toEqual([
      "module failed: module removed v1.0.0: no images_digests.json in the module image",
      'module failed: module tagged v1.0.0: images_digests.json names "v1.0" under "a", not a sha256 digest',
    ]);
    expect(await skopeoManifestDigest(target, `${TARGET_REPO}/modules/replaced@${present}`)).toBe(present);
    expect(await skopeoDigestOrAbsent(target, `${TARGET_REPO}/modules/removed:v1.0.0`)).toBeUndefined();
    // read from the top down: the replaced list's bottom layer was only ever copied, never read for the list
    expect(countLoggedRequests(source, /^GET$/, /^200$/, new RegExp(`/modules/replaced/blobs/${bottom}`))).toBe(1);
  });

  it("a re-run of the good module and the databases writes nothing; --with-release-channel adds the cluster's channel only", async () => {
    const { result: code, stdout } = await run("--with-modules", modulesFile([{ name: "console", version: "v1.2.3", channel: "stable" }]), "--with-security-databases");
    expect(code).toBe(0);
    expect(result(stdout)).toMatchObject({ status: "succeeded", copied: 0, failed: 0, groups: { modules: { images: 4, skipped: 4 }, security: { images: 4, skipped: 4 } } });

    const channel = (await pushImage(source, `${SOURCE_REPO}/release-channel`, { format: "oci", seed: "modules-channel", layers: [{ size: 2048, seed: "modules-channel" }] }, "early-access")).digest;
    const withChannel = await run("--with-release-channel", "EarlyAccess");
    expect(withChannel.result).toBe(0);
    expect(result(withChannel.stdout)).toMatchObject({ status: "succeeded", copied: 1, groups: { updates: { images: 1, copied: 1 } } });
    expect(await skopeoManifestDigest(target, `${TARGET_REPO}/release-channel:early-access`)).toBe(channel);
    expect(await skopeoListTags(target, `${TARGET_REPO}/release-channel`)).toEqual(["early-access"]);
    const bad = await run("--with-release-channel", "Nightly");
    expect(bad.result).toBe(2);
    expect(bad.stderr).toMatch(/must be one of alpha, beta, early-access, stable, rock-solid .*got "Nightly"/);
  });
});
