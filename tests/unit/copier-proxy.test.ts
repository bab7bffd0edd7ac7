// HTTPS_PROXY / HTTP_PROXY / NO_PROXY, read and applied with Go's rules (docker, skopeo, containerd, kubectl).
import { describeProxy, ProxyConfigError, ProxyRoutes, proxySettingsFromEnv } from "../../copier/transport/proxy";

describe("proxySettingsFromEnv", () => {
  it("is undefined when no proxy is set, whatever NO_PROXY says", () => {
    expect(proxySettingsFromEnv({})).toBeUndefined();
    expect(proxySettingsFromEnv({ NO_PROXY: "example.com", HTTPS_PROXY: "  " })).toBeUndefined();
  });

  it("reads upper case before lower case and adds http:// to a bare host:port", () => {
    expect(proxySettingsFromEnv({ HTTPS_PROXY: "http://upper:3128", https_proxy: "http://lower:3128", no_proxy: ".corp" })).toEqual({
      httpsProxy: "http://upper:3128",
      httpProxy: undefined,
      noProxy: ".corp",
    });
    expect(proxySettingsFromEnv({ http_proxy: "squid.corp:3128" })?.httpProxy).toBe("http://squid.corp:3128");
  });

  it.each([["socks5://proxy:1080"], ["http://"], ["ftp://proxy:21"], ["http://user:s3cret@:3128"], ["http://user:s3cret@proxy:99999"]])(
    "refuses %s in one line that never shows the value",
    (value) => {
      const attempt = () => proxySettingsFromEnv({ HTTPS_PROXY: value });
      expect(attempt).toThrow(ProxyConfigError);
      expect(attempt).toThrow("HTTPS_PROXY is not a usable proxy URL (expected http://[user:password@]host:port)");
      expect(attempt).not.toThrow(/s3cret|proxy:1080|ftp/);
    },
  );

  it("describes a proxy without its credentials", () => {
    expect(describeProxy("http://user:p%40ss@proxy.corp:3128/")).toBe("http://proxy.corp:3128");
  });
});

describe("ProxyRoutes.proxyFor", () => {
  const HTTPS = "http://https-proxy:3128";
  const HTTP = "http://http-proxy:3128";
  const routes = new ProxyRoutes({
    httpsProxy: HTTPS,
    httpProxy: HTTP,
    noProxy: "internal.corp, .svc,*.cluster.local registry.example.com:5000 10.0.0.0/8,192.168.1.7 [fd00::1] 172.16.0.9:5000 not-a-cidr/99",
  });
  const via = (url: string) => routes.proxyFor(new URL(url));

  it.each([
    ["https://registry.deckhouse.io/v2/", HTTPS],
    ["http://plain.example.net:5000/v2/", HTTP],
    ["https://internal.corp/v2/", undefined],
    ["https://harbor.internal.corp/v2/", undefined],
    ["https://notinternal.corp/v2/", HTTPS],
    ["https://registry.d8-system.svc/v2/", undefined],
    ["https://x.y.cluster.local/v2/", undefined],
    ["https://registry.example.com:5000/v2/", undefined],
    ["https://registry.example.com/v2/", HTTPS],
    ["https://10.20.30.40/v2/", undefined],
    ["https://11.0.0.1/v2/", HTTPS],
    ["https://192.168.1.7:8443/v2/", undefined],
    ["https://[fd00::1]:5000/v2/", undefined],
    ["https://[fd00::2]:5000/v2/", HTTPS],
    ["https://172.16.0.9:5000/v2/", undefined],
    ["https://172.16.0.9:5001/v2/", HTTPS],
    ["https://127.0.0.1:5000/v2/", undefined],
    ["https://127.1.2.3/v2/", undefined],
    ["https://[::1]:5000/v2/", undefined],
    ["https://localhost:5000/v2/", undefined],
  ])("%s -> %s", (url, expected) => {
    expect(via(url)).toBe(expected);
  });

  it("uses HTTPS_PROXY only for https and HTTP_PROXY only for http, as Go does", () => {
    const onlyHttp = new ProxyRoutes({ httpProxy: HTTP });
    expect(onlyHttp.proxyFor(new URL("https://registry.deckhouse.io/"))).toBeUndefined();
    expect(onlyHttp.proxyFor(new URL("http://registry.deckhouse.io/"))).toBe(HTTP);
  });

  it("sends nothing through the proxy when NO_PROXY is *", () => {
    expect(new ProxyRoutes({ httpsProxy: HTTPS, noProxy: "*" }).proxyFor(new URL("https://registry.deckhouse.io/"))).toBeUndefined();
  });
});
