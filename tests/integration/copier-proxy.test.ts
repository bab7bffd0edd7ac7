// The copier behind a corporate proxy: HTTPS_PROXY with credentials, both registries reachable only through the
// proxy's CONNECT tunnels (their name resolves nowhere else), the result checked with skopeo directly.
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { seedRelease, type SeededRelease } from "../helpers/images";
import { lastLine, removeDir, tempDir, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { ensureBundle, runBundle } from "../helpers/bundle";
import { PROXIED_HOST, startConnectProxy, type ConnectProxy } from "../helpers/connect-proxy";

const RESULT_PREFIX = "images-copier result: ";
const PROXY_USER = "proxy-user";
const PROXY_PASSWORD = 'pr"ox:y@pw';

describe("copy through an HTTPS_PROXY", () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let proxy: ConnectProxy;
  let release: SeededRelease;
  const dirs: string[] = [];

  beforeAll(async () => {
    [source, target, proxy] = await Promise.all([
      startRegistry({ tls: true, auth: "basic", password: 'src"px:pw' }),
      startRegistry({ tls: true, auth: "basic", password: 'dst"px:pw' }),
      startConnectProxy({ username: PROXY_USER, password: PROXY_PASSWORD }),
      ensureBundle(),
    ]);
    release = await seedRelease(source, "deckhouse/ee", { tagged: 3, digestOnly: 1, multiArch: 1, seed: "proxy" });
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop(), proxy?.close()]);
    dirs.forEach(removeDir);
  });

  /** The registry's reference under the name only the proxy resolves. */
  const behindProxy = (reg: TestRegistry, image: string) => ({ ...reg.repoConfig(image), image: reg.ref(image).replace(/^127\.0\.0\.1:/, `${PROXIED_HOST}:`) });
  const proxyUrl = (password: string) => `http://${PROXY_USER}:${encodeURIComponent(password)}@${proxy.host}`;
  const configDir = (targetTag: string) => {
    const dir = writeConfigDir({ dest: behindProxy(target, `client/deckhouse:${targetTag}`), source: behindProxy(source, release.deckhouseImage), images: release.images }, tempDir("proxy-config"));
    dirs.push(dir);
    return dir;
  };

  it("reaches both registries only through the proxy and copies the release", async () => {
    const tunnelsBefore = proxy.tunnels.length;
    const run = await runBundle(["copy", "--config-dir", configDir("test")], { env: { HTTPS_PROXY: proxyUrl(PROXY_PASSWORD), NO_PROXY: "" } });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining(`${PROXIED_HOST}:`) });
    expect(run.stderr).toContain(`through proxy http://${proxy.host}`);
    expect(JSON.parse(lastLine(run.stdout).slice(RESULT_PREFIX.length))).toMatchObject({ status: "succeeded", failed: 0, images: release.references.length });
    const used = new Set(proxy.tunnels.slice(tunnelsBefore));
    expect(used).toEqual(new Set([`${PROXIED_HOST}:${source.host.split(":")[1]}`, `${PROXIED_HOST}:${target.host.split(":")[1]}`]));
    expect(run.stdout + run.stderr).not.toContain("ox:y@pw");
    expect(run.stdout + run.stderr).not.toContain(encodeURIComponent(PROXY_PASSWORD));
    const check = await verifyCopiedRelease(target, "client/deckhouse", "client/deckhouse:test", release);
    expect(check.problems).toEqual([]);
  });

  it("fails fast with one line naming the proxy's refusal, never its password", async () => {
    const refusedBefore = proxy.refused.length;
    const run = await runBundle(["copy", "--config-dir", configDir("wrong-proxy-password")], {
      env: { HTTPS_PROXY: proxyUrl("wrong:secret"), NO_PROXY: "" },
      timeoutMs: 60_000,
    });
    expect(run.code).toBe(1);
    const errors = run.stderr.split("\n").filter((l) => l.startsWith("images-copier: error:"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/407/);
    expect(run.stdout + run.stderr).not.toMatch(/wrong:secret|wrong%3Asecret/);
    expect(proxy.refused.slice(refusedBefore).every((r) => r.startsWith("407 "))).toBe(true);
    expect(proxy.refused.length - refusedBefore).toBeLessThanOrEqual(12);
  });

  it("refuses an unusable HTTPS_PROXY before any request, with exit code 2", async () => {
    const tunnelsBefore = proxy.tunnels.length;
    const run = await runBundle(["copy", "--config-dir", configDir("bad-proxy-url")], { env: { HTTPS_PROXY: "socks5://user:hidden@proxy:1080" } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("images-copier: error: HTTPS_PROXY is not a usable proxy URL");
    expect(run.stdout + run.stderr).not.toContain("hidden");
    expect(proxy.tunnels.length).toBe(tunnelsBefore);
  });
});
