// publish-image against real registries (distribution 2.8, TLS with the test CA): a target with basic auth and a
// base registry with token auth, bases made here (a Docker manifest list with more platforms than asked for, an OCI
// index in the target registry itself, a single-platform manifest). skopeo judges what was pushed; the copier layer
// is taken out of the registry by skopeo, unpacked with the system tar and run with this machine's node.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { runCli } from "../../copier";
import { ensureBundle, ROOT } from "../helpers/bundle";
import { acceptedBlobUploads, captureOutput, countLoggedRequests, lastLine, removeDir, tempDir, WRITES } from "../helpers/copy-fixture";
import { MEDIA, pushImage, pushMultiArch, sha256, type PushedManifest } from "../helpers/images";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { skopeoConfig, skopeoCopyToDir, skopeoListTags, skopeoRaw } from "../helpers/skopeo";

const execFileAsync = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const TARGET_PASSWORD = 'pub"pass:word';
const WRONG_PASSWORD = 'wrong"guess:attempt';
const REPO = "tools/images-copier";

/** A base config like the Node images' (user, entrypoint, environment, history). */
const BASE_CONFIG = {
  config: {
    Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_VERSION=20.18.1", "HOME=/root"],
    Entrypoint: ["docker-entrypoint.sh"],
    Cmd: ["node"],
    Labels: { "org.example.base": "node" },
  },
  history: [
    { created: "2023-04-01T00:00:00Z", created_by: "ADD rootfs.tar.xz /" },
    { created: "2023-04-01T00:00:00Z", created_by: "ENV NODE_VERSION=20.18.1", empty_layer: true },
    { created: "2023-04-01T00:00:00Z", created_by: "RUN install node" },
  ],
};

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  errorLines: string[];
}

describe("publish-image", () => {
  let base: TestRegistry;
  let target: TestRegistry;
  let work: string;
  let bundle: string;
  let dockerList: PushedManifest;
  let ociIndex: PushedManifest;
  let single: PushedManifest;
  let configDir: string;

  beforeAll(async () => {
    [base, target, bundle] = await Promise.all([
      startRegistry({ tls: true, auth: "token", username: "puller", password: 'base"secret:1' }),
      startRegistry({ tls: true, auth: "basic", username: "robot", password: TARGET_PASSWORD }),
      ensureBundle(),
    ]);
    work = tempDir("publish-image");
    const layers = [{ size: 64 * 1024, seed: "node-rootfs" }];
    const platforms = [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
      { os: "linux", architecture: "s390x" },
      { os: "unknown", architecture: "unknown" },
    ];
    [dockerList, ociIndex, single] = await Promise.all([
      pushMultiArch(base, "library/node", { format: "docker", seed: "node-docker", layers, platforms, tag: "20-bookworm-slim", config: BASE_CONFIG }),
      pushMultiArch(target, "mirror/node", { format: "oci", seed: "node-oci", layers, platforms: platforms.slice(0, 2), tag: "20-bookworm-slim", config: BASE_CONFIG }),
      pushImage(base, "library/node-amd64", { format: "oci", seed: "node-single", layers, config: BASE_CONFIG }, "20"),
    ]);
    configDir = join(work, "config");
    mkdirSync(configDir);
    writeFileSync(join(configDir, "dest-repo.json"), JSON.stringify(target.repoConfig("deckhouse/ee:rock-solid-1.46")), { mode: 0o600 });
  });

  afterAll(async () => {
    await Promise.all([base?.stop(), target?.stop()]);
    removeDir(work);
  });

  const baseRef = (ref: string) => base.ref(ref);
  const baseCa = () => base.caFile as string;

  /** A docker config.json holding the base registry's credentials (`auth`: base64 of user:password). */
  function baseDockerConfig(): string {
    const file = join(work, "docker-config.json");
    const auth = Buffer.from(`${base.username}:${base.password}`).toString("base64");
    writeFileSync(file, JSON.stringify({ auths: { [base.host]: { auth } } }), { mode: 0o600 });
    return file;
  }

  /** In-process `images-copier publish-image …`, the base registry's credentials from a docker config. */
  async function publish(args: string[], opts: { stdin?: string } = {}): Promise<RunResult> {
    const run = await captureOutput(() =>
      runCli(["publish-image", "--bundle", bundle, "--docker-config", baseDockerConfig(), "--base-ca", baseCa(), ...args], {
        stdin: Readable.from([opts.stdin ?? ""]),
      }),
    );
    const errorLines = run.stderr.split("\n").filter((l) => l.startsWith("images-copier: error:"));
    return { code: run.result, stdout: run.stdout, stderr: run.stderr, errorLines };
  }

  function expectNoSecrets(...texts: string[]): void {
    for (const text of texts) {
      for (const secret of [TARGET_PASSWORD, WRONG_PASSWORD, base.password as string]) expect(text).not.toContain(secret);
    }
  }

  /** The digest the last line names, after checking it is `<target repo>@sha256:…`. */
  function pushedDigest(run: RunResult, repo = REPO): string {
    expect({ code: run.code, errors: run.errorLines }).toEqual({ code: 0, errors: [] });
    const line = lastLine(run.stdout);
    expect(line).toMatch(new RegExp(`^${target.host.replace(/\./g, "\\.")}/${repo}@sha256:[0-9a-f]{64}$`));
    return line.slice(line.indexOf("@") + 1);
  }

  interface Index {
    mediaType: string;
    manifests: Array<{ mediaType: string; digest: string; size: number; platform: Record<string, string> }>;
  }
  interface Manifest {
    mediaType: string;
    config: { mediaType: string; digest: string };
    layers: Array<{ mediaType: string; digest: string; size: number }>;
  }
  interface Config {
    architecture: string;
    created: string;
    config: { User: string; Env: string[]; Entrypoint: string[]; Cmd: string[]; Labels: Record<string, string> };
    rootfs: { diff_ids: string[] };
    history: Array<{ created_by: string; empty_layer?: boolean }>;
  }

  const rawJson = async <T>(ref: string): Promise<{ bytes: Buffer; json: T }> => {
    const bytes = await skopeoRaw(target, ref);
    return { bytes, json: JSON.parse(bytes.toString("utf8")) as T };
  };

  it("publishes the asked platforms of a Docker manifest list from another registry, as skopeo reads them", async () => {
    const run = await publish(["--config-dir", configDir, "--target", target.ref(`${REPO}:${VERSION}`), "--base", baseRef("library/node:20-bookworm-slim")]);
    const digest = pushedDigest(run);
    expectNoSecrets(run.stdout, run.stderr);
    expect(run.stdout).toContain(`base ${baseRef("library/node")}@${dockerList.digest}: linux/amd64, linux/arm64/v8\n`);

    const index = await rawJson<Index>(`${REPO}:${VERSION}`);
    expect(sha256(index.bytes)).toBe(digest);
    expect(index.json.mediaType).toBe(MEDIA.dockerList);
    // Only the platforms asked for (the default linux/amd64 and linux/arm64): not s390x, not the unknown/unknown entry.
    expect(index.json.manifests.map((m) => m.platform)).toEqual([
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ]);

    const bundleBytes = readFileSync(bundle);
    for (const [i, entry] of index.json.manifests.entries()) {
      const baseChild = dockerList.children![i];
      const baseManifest = JSON.parse(baseChild.bytes.toString("utf8")) as Manifest;
      const manifest = await rawJson<Manifest>(`${REPO}@${entry.digest}`);
      expect(entry.mediaType).toBe(MEDIA.dockerManifest);
      expect(manifest.json.mediaType).toBe(MEDIA.dockerManifest);
      expect(manifest.json.config.mediaType).toBe(MEDIA.dockerConfig);
      // The base's layers, unchanged, then one copier layer of the Docker family.
      expect(manifest.json.layers.slice(0, -1)).toEqual(baseManifest.layers);
      const copierLayer = manifest.json.layers[manifest.json.layers.length - 1];
      expect(copierLayer.mediaType).toBe(MEDIA.dockerLayer);

      const configBytes = await skopeoConfig(target, `${REPO}@${entry.digest}`);
      expect(sha256(configBytes)).toBe(manifest.json.config.digest);
      const config = JSON.parse(configBytes.toString("utf8")) as Config;
      expect(config.architecture).toBe(entry.platform.architecture);
      expect(config.created).toBe("2023-04-01T00:00:00Z");
      expect(config.config.User).toBe("1000");
      expect(config.config.Labels).toEqual({
        "org.example.base": "node",
        "io.deckhouse.images-copier.version": VERSION,
        "io.deckhouse.images-copier.bundle-digest": sha256(bundleBytes),
      });
      expect(config.config.Entrypoint).toEqual(["node", "/opt/images-copier/images-copier.cjs"]);
      expect(config.config.Env).toEqual(["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_VERSION=20.18.1", "HOME=/tmp", "NODE_ENV=production"]);
      expect(config.rootfs.diff_ids).toHaveLength(baseManifest.layers.length + 1);
      expect(config.history).toHaveLength(BASE_CONFIG.history.length + 1);
      expect(config.history[config.history.length - 1].created_by).toContain("/opt/images-copier/images-copier.cjs");

      // The layer skopeo fetched: its uncompressed digest is the config's last diff_id.
      const dir = join(work, `layout-${i}`);
      await skopeoCopyToDir(target, `${REPO}@${entry.digest}`, dir);
      const blob = readFileSync(join(dir, copierLayer.digest.slice("sha256:".length)));
      expect(sha256(gunzipSync(blob))).toBe(config.rootfs.diff_ids[config.rootfs.diff_ids.length - 1]);
    }
  });

  it("puts the copier in a layer that unpacks with tar (uid 1000, fixed times) and runs with node, reproducing its own image", async () => {
    const tag = `${VERSION}-extract`;
    const digest = pushedDigest(await publish(["--config-dir", configDir, "--target", target.ref(`${REPO}:${tag}`), "--base", baseRef("library/node:20-bookworm-slim")]));
    const index = await rawJson<Index>(`${REPO}@${digest}`);
    const amd64 = index.json.manifests[0].digest;
    const dir = join(work, "extract-layout");
    await skopeoCopyToDir(target, `${REPO}@${amd64}`, dir);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;
    const layerFile = join(dir, manifest.layers[manifest.layers.length - 1].digest.slice("sha256:".length));

    const listing = await execFileAsync("tar", ["-tvzf", layerFile, "--numeric-owner", "--full-time"], { env: { ...process.env, TZ: "UTC" } });
    const entries = listing.stdout.trim().split("\n").map((line) => line.split(/\s+/));
    // mode, owner, size, date, time, name
    expect(entries.map((e) => [e[0], e[1], e[3], e[4], e[5]])).toEqual([
      ["drwxr-xr-x", "0/0", "1970-01-01", "00:00:00", "opt/"],
      ["drwxr-xr-x", "1000/1000", "1970-01-01", "00:00:00", "opt/images-copier/"],
      ["-rwxr-xr-x", "1000/1000", "1970-01-01", "00:00:00", "opt/images-copier/images-copier.cjs"],
    ]);
    const root = join(work, "rootfs");
    mkdirSync(root);
    await execFileAsync("tar", ["-xzf", layerFile, "-C", root]);
    const extracted = join(root, "opt", "images-copier", "images-copier.cjs");
    expect(sha256(readFileSync(extracted))).toBe(sha256(readFileSync(bundle)));

    // The extracted copier publishes itself (no --bundle: the file it runs from), the target's password in the
    // environment: the same bundle on the same base gives the same image.
    const help = await execFileAsync(process.execPath, [extracted, "publish-image", "--help"]);
    expect(help.stdout).toContain("--password-stdin");
    const again = await execFileAsync(
      process.execPath,
      [extracted, "publish-image", "--target", target.ref(`${REPO}:${tag}-again`), "--base", baseRef("library/node:20-bookworm-slim"),
        "--username", "robot", "--ca", target.caFile as string, "--base-ca", baseCa(), "--docker-config", baseDockerConfig()],
      { env: { ...process.env, IMAGES_COPIER_TARGET_PASSWORD: TARGET_PASSWORD }, timeout: 60_000 },
    );
    expectNoSecrets(again.stdout, again.stderr);
    expect(lastLine(again.stdout)).toBe(`${target.ref(REPO)}@${digest}`);
    expect(await skopeoRaw(target, `${REPO}:${tag}-again`)).toEqual(index.bytes);
  });
  it("gives the same digest for the same bundle on the same base (by tag or digest), another for a changed bundle", async () => {
    const baseByTag = baseRef("library/node:20-bookworm-slim");
    const first = pushedDigest(await publish(["--config-dir", configDir, "--target", target.ref(`${REPO}:repro-1`), "--base", baseByTag]));
    const uploadsBefore = acceptedBlobUploads(target).length;
    const second = pushedDigest(await publish(["--config-dir", configDir, "--target", target.ref(`${REPO}:repro-2`), "--base", baseRef(`library/node@${dockerList.digest}`)]));
    expect(second).toBe(first);
    // Everything was already there: the second push uploaded no blob.
    expect(acceptedBlobUploads(target).slice(uploadsBefore)).toEqual([]);

    const changed = join(work, "changed.cjs");
    writeFileSync(changed, Buffer.concat([readFileSync(bundle), Buffer.from("\n// changed\n")]));
    const run = await publish(["--config-dir", configDir, "--target", target.ref(`${REPO}:repro-3`), "--base", baseByTag, "--bundle", changed]);
    const third = pushedDigest(run);
    expect(third).not.toBe(first);
    const index = await rawJson<Index>(`${REPO}:repro-3`);
    const config = JSON.parse((await skopeoConfig(target, `${REPO}@${index.json.manifests[0].digest}`)).toString("utf8")) as Config;
    expect(config.config.Labels["io.deckhouse.images-copier.bundle-digest"]).toBe(sha256(readFileSync(changed)));
    // Only the new copier layer and the two new configs were uploaded; the base's layers were already there.
    const uploaded = acceptedBlobUploads(target).slice(uploadsBefore);
    expect(uploaded).toHaveLength(3);
    expect(uploaded.filter((d) => dockerList.blobs.includes(d))).toEqual([]);
  });

  it("mounts the layers of a base in the same registry and keeps its OCI media types (password on stdin)", async () => {
    const repo = "tools/images-copier-oci";
    const mountsBefore = countLoggedRequests(target, /^POST$/, /^201$/, /[?&]mount=/);
    const uploadsBefore = acceptedBlobUploads(target).length;
    const run = await publish(
      ["--username", "robot", "--password-stdin", "--ca", target.caFile as string, "--target", target.ref(`${repo}:${VERSION}`), "--base", target.ref("mirror/node:20-bookworm-slim")],
      { stdin: `${TARGET_PASSWORD}\n` },
    );
    const digest = pushedDigest(run, repo);
    expectNoSecrets(run.stdout, run.stderr);

    const baseLayers = new Set(ociIndex.children!.flatMap((c) => (JSON.parse(c.bytes.toString("utf8")) as Manifest).layers.map((l) => l.digest)));
    expect(countLoggedRequests(target, /^POST$/, /^201$/, /[?&]mount=/) - mountsBefore).toBe(baseLayers.size);
    const uploaded = acceptedBlobUploads(target).slice(uploadsBefore);
    expect(uploaded.filter((d) => baseLayers.has(d))).toEqual([]);

    const index = await rawJson<Index>(`${repo}:${VERSION}`);
    expect(sha256(index.bytes)).toBe(digest);
    expect(index.json.mediaType).toBe(MEDIA.ociIndex);
    expect(index.json.manifests.map((m) => m.mediaType)).toEqual([MEDIA.ociManifest, MEDIA.ociManifest]);
    for (const entry of index.json.manifests) {
      const manifest = await rawJson<Manifest>(`${repo}@${entry.digest}`);
      expect(manifest.json.config.mediaType).toBe(MEDIA.ociConfig);
      expect(manifest.json.layers.map((l) => l.mediaType)).toEqual([MEDIA.ociLayer, MEDIA.ociLayer, MEDIA.ociLayer]);
    }
  });

  it("publishes a single-platform base for its one platform as an image manifest under the tag", async () => {
    const run = await publish(["--config-dir", configDir, "--platform", "linux/amd64", "--target", target.ref(`${REPO}:single`), "--base", baseRef("library/node-amd64:20")]);
    const digest = pushedDigest(run);
    const manifest = await rawJson<Manifest>(`${REPO}:single`);
    expect(sha256(manifest.bytes)).toBe(digest);
    expect(manifest.json.mediaType).toBe(MEDIA.ociManifest);
    expect(manifest.json.layers.slice(0, -1)).toEqual((JSON.parse(single.bytes.toString("utf8")) as Manifest).layers);
    const config = JSON.parse((await skopeoConfig(target, `${REPO}:single`)).toString("utf8")) as Config;
    expect(config.config.User).toBe("1000");
  });

  describe("refuses bad input with one line, the right exit code and nothing written", () => {
    /** The run, and how many requests the target registry saw during it. */
    async function refused(args: string[], opts: { stdin?: string } = {}): Promise<RunResult & { targetRequests: number }> {
      const [writes, requests] = [countLoggedRequests(target, WRITES), countLoggedRequests(target, /./)];
      const run = await publish(args, opts);
      const targetRequests = countLoggedRequests(target, /./) - requests;
      expect(run.errorLines).toHaveLength(1);
      expectNoSecrets(run.stdout, run.stderr);
      expect(countLoggedRequests(target, WRITES)).toBe(writes);
      expect(await skopeoListTags(target, "tools/refused")).toEqual([]);
      return { ...run, targetRequests };
    }
    const to = (tag = "x") => ["--target", target.ref(`tools/refused:${tag}`)];

    it("a base without a requested platform: exit 2, naming it and what the base has", async () => {
      const run = await refused(["--config-dir", configDir, ...to(), "--base", baseRef("library/node:20-bookworm-slim"), "--platform", "linux/amd64,linux/ppc64le"]);
      expect(run.code).toBe(2);
      expect(run.errorLines[0]).toContain("has no linux/ppc64le image");
      expect(run.errorLines[0]).toContain("it has linux/amd64, linux/arm64/v8, linux/s390x)");
    });

    it("a single-platform base asked for two platforms: exit 2, naming its platform", async () => {
      const run = await refused(["--config-dir", configDir, ...to(), "--base", baseRef("library/node-amd64:20")]);
      expect(run.code).toBe(2);
      expect(run.errorLines[0]).toContain("single-platform image (linux/amd64)");
      expect(run.errorLines[0]).toContain("--platform linux/amd64");
    });

    it("a target without a tag: exit 2", async () => {
      const run = await refused(["--config-dir", configDir, "--target", target.ref("tools/refused"), "--base", baseRef("library/node:20-bookworm-slim")]);
      expect(run.code).toBe(2);
      expect(run.errorLines[0]).toContain(`"${target.ref("tools/refused")}" has no tag`);
    });

    it("a wrong password: exit 1, naming the registry and the user, never the password", async () => {
      const run = await refused(["--username", "robot", "--password-stdin", "--ca", target.caFile as string, ...to(), "--base", baseRef("library/node:20-bookworm-slim")], {
        stdin: WRONG_PASSWORD,
      });
      expect(run.code).toBe(1);
      expect(run.errorLines[0]).toContain(`registry ${target.host} refused the credentials of user "robot"`);
    });

    it("a dest-repo.json of another registry: exit 2, its credentials not sent", async () => {
      const baseRequests = countLoggedRequests(base, /./);
      const run = await refused(["--config-dir", configDir, "--target", base.ref("tools/refused:x"), "--base", baseRef("library/node:20-bookworm-slim")]);
      expect(countLoggedRequests(base, /./)).toBe(baseRequests);
      expect(run.code).toBe(2);
      expect(run.errorLines[0]).toContain(`is for registry ${target.host}, not ${base.host}`);
      expect(run.targetRequests).toBe(0);
    });

    it("a user without a password, an unknown platform, a file that is not the bundle, the base's own tag: exit 2", async () => {
      const common = [...to(), "--base", baseRef("library/node:20-bookworm-slim")];
      const noPassword = await refused(["--username", "robot", "--ca", target.caFile as string, ...common]);
      expect(noPassword.errorLines[0]).toContain('user "robot" has no password');
      const platform = await refused(["--config-dir", configDir, "--platform", "linux", ...common]);
      expect(platform.errorLines[0]).toContain('platform "linux" is not os/architecture[/variant]');
      const notBundle = await refused(["--config-dir", configDir, "--bundle", join(ROOT, "package.json"), ...common]);
      expect(notBundle.errorLines[0]).toContain("not a bundled copier");
      const onItself = await refused(["--config-dir", configDir, "--target", target.ref("mirror/node:20-bookworm-slim"), "--base", target.ref("mirror/node:20-bookworm-slim")]);
      expect(onItself.errorLines[0]).toContain("is the base image itself");
      expect([noPassword.code, platform.code, notBundle.code, onItself.code]).toEqual([2, 2, 2, 2]);
    });
  });
});
