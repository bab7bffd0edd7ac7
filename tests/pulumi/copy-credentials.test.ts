// Source credentials from `d8-system/deckhouse-registry` and the Deckhouse image from the Deployment.
import { ClusterStateError, credentialsFromAuthEntry, deckhouseImageOf, sourceRepoConfig } from "../../components/copy/registry-credentials";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const dockerConfig = (auths: unknown) => ({ ".dockerconfigjson": b64(JSON.stringify({ auths })) });
const IMAGE = "registry.example:5000/deckhouse/fe:v1.50.1";

test("auth is split on the FIRST colon only", () => {
  expect(credentialsFromAuthEntry({ auth: b64('license-token:a:b"c') })).toEqual({ username: "license-token", password: 'a:b"c' });
  expect(() => credentialsFromAuthEntry({ auth: b64("no-colon") })).toThrow(ClusterStateError);
});

test("username/password win over auth", () => {
  expect(credentialsFromAuthEntry({ username: "u", password: "p", auth: b64("x:y") })).toEqual({ username: "u", password: "p" });
});

test("the entry is found by the Secret's address, with or without a scheme, else by the image's registry", () => {
  const data = { ...dockerConfig({ "https://registry.example:5000": { auth: b64("u:p") }, "other.example": { auth: b64("o:o") } }), address: b64("registry.example:5000") };
  expect(sourceRepoConfig(data, IMAGE)).toEqual({ username: "u", password: "p", insecure: false, image: IMAGE });
  expect(sourceRepoConfig(dockerConfig({ "registry.example:5000": { username: "a", password: "b" } }), IMAGE)).toEqual({ username: "a", password: "b", insecure: false, image: IMAGE });
});

test("malformed Secrets give one clear message", () => {
  expect(() => sourceRepoConfig({}, IMAGE)).toThrow("d8-system/deckhouse-registry has no .dockerconfigjson");
  expect(() => sourceRepoConfig({ ".dockerconfigjson": b64("{") }, IMAGE)).toThrow("d8-system/deckhouse-registry: .dockerconfigjson is not JSON");
  expect(() => sourceRepoConfig({ ".dockerconfigjson": b64('{"auths":[]}') }, IMAGE)).toThrow("has no valid `auths` object");
});

test("the deckhouse container's image is taken from the Deployment", () => {
  const spec = (containers: unknown[]) => ({ spec: { template: { spec: { containers } } } }) as never;
  expect(deckhouseImageOf(spec([{ name: "sidecar", image: "x:1" }, { name: "deckhouse", image: IMAGE }]))).toBe(IMAGE);
  expect(() => deckhouseImageOf(spec([]))).toThrow("d8-system/deckhouse: the Deployment has no deckhouse container image");
  expect(() => deckhouseImageOf(spec([{ name: "deckhouse", image: "Bad Image" }]))).toThrow(/^d8-system\/deckhouse: /);
});
