import { credentialsFor, decodeAuth } from "../../copier/docker-config";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("docker config.json credentials", () => {
  it("splits base64 auth on the FIRST colon: the password keeps colons and quotes", () => {
    expect(decodeAuth(b64('license-token:pa"ss:wo:rd'))).toEqual({ username: "license-token", password: 'pa"ss:wo:rd' });
    expect(decodeAuth(b64("no-colon"))).toBeUndefined();
  });

  it("finds an entry by host[:port], also when the key carries a scheme or path", () => {
    const config = {
      auths: {
        "https://registry.example.com/v1/": { auth: b64("u1:p1") },
        "127.0.0.1:5000": { username: "u2", password: 'a"b:c' },
      },
    };
    expect(credentialsFor(config, "registry.example.com")).toEqual({ username: "u1", password: "p1" });
    expect(credentialsFor(config, "127.0.0.1:5000")).toEqual({ username: "u2", password: 'a"b:c' });
    expect(credentialsFor(config, "127.0.0.1:5001")).toBeUndefined();
  });

  it("maps Docker Hub's legacy keys and tolerates configs without auths", () => {
    expect(credentialsFor({ auths: { "https://index.docker.io/v1/": { auth: b64("me:x") } } }, "docker.io")).toEqual({ username: "me", password: "x" });
    expect(credentialsFor({ credsStore: "desktop" }, "docker.io")).toBeUndefined();
    expect(credentialsFor("garbage", "docker.io")).toBeUndefined();
  });
});
