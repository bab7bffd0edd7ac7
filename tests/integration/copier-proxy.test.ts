// The copier behind a corporate proxy: HTTPS_PROXY with credentials, both registries reachable only through the
// proxy's CONNECT tunnels (their name resolves nowhere else), the result checked with skopeo directly.
import type { TestRegistry } from "../helpers/registry";
import { lastLine, removeDir, tempDir, verifyCopiedRelease, writeConfigDir } from "../helpers/copy-fixture";
import { ensureBundle, runBundle } from "../helpers/bundle";
import { PROXIED_HOST, startConnectProxy, type ConnectProxy } from "../helpers/connect-proxy";
import { useCopyPair } from "../helpers/copy-pair";

const RESULT_PREFIX = "images-copier result: ";
const PROXY_USER = "proxy-user";
const PROXY_PASSWORD = 'pr"ox:y@pw';

describe("copy through an HTTPS_PROXY", () => {
  let proxy: ConnectProxy;
  const dirs: string[] = [];
  const pair = useCopyPair({
    source: { tls: true, auth: "basic", password: 'src"px:pw' },
    target: { tls: true, auth: "basic", password: 'dst"px:pw' },
    repo: "deckhouse/ee",
    seed: { tagged: 3, digestOnly: 1, multiArch: 1, seed: "proxy" },
    name: "proxy-test",
    alongside: async () => {
      [proxy] = await Promise.all([startConnectProxy({ username: PROXY_USER, password: PROXY_PASSWORD }), ensureBundle()]);
    },
  });
  afterAll(async () => {
    await proxy?.close();
    dirs.forEach(removeDir);
  });

  /** The registry's reference under the name only the proxy resolves. */
  const behindProxy = (reg: TestRegistry, image: string) => ({ ...reg.repoConfig(image), image: reg.ref(image).replace(/^127\.0\.0\.1:/, `${PROXIED_HOST}:`) });
  const proxyUrl = (password: string) => `http://${PROXY_USER}:${encodeURIComponent(password)}@${proxy.host}`;
  const configDir = (targetTag: string) => {
    const dir = writeConfigDir({ dest: behindProxy(pair.target, `client/deckhouse:${targetTag}`), source: behindProxy(pair.source, pair.release.deckhouseImage), images: pair.release.images }, tempDir("proxy-config"));
    dirs.push(dir);
    return dir;
  };

  it("reaches both registries only through the proxy and copies the release", async () => {
    const tunnelsBefore = proxy.tunnels.length;
    const run = await runBundle(["copy", "--config-dir", configDir("test")], { env: { HTTPS_PROXY: proxyUrl(PROXY_PASSWORD), NO_PROXY: "" } });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining(`${PROXIED_HOST}:`) });
    expect(run.stderr).toContain(`through proxy http://${proxy.host}`);
    expect(JSON.parse(lastLine(run.stdout).slice(RESULT_PREFIX.length))).toMatchObject({ status: "succeeded", failed: 0, images: pair.release.references.length });
    const used = new Set(proxy.tunnels.slice(tunnelsBefore));
    expect(used).toEqual(new Set([`${PROXIED_HOST}:${pair.source.host.split(":")[1]}`, `${PROXIED_HOST}:${pair.target.host.split(":")[1]}`]));
    expect(run.stdout + run.stderr).not.toContain("ox:y@pw");
    expect(run.stdout + run.stderr).not.toContain(encodeURIComponent(PROXY_PASSWORD));
    const check = await verifyCopiedRelease(pair.target, "client/deckhouse", "client/deckhouse:test", pair.release);
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
