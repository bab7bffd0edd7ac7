import { decodeBase64, dockerConfigJson, encodeBase64 } from "../../components/kube";
import { registrySecretValues, secretPointsAt } from "../../components/switch/registry-secret";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";

describe("dockerConfigJson", () => {
  it("keeps a password with quotes and colons intact and auth = base64(user:password)", () => {
    const password = 'Pa"ss:wo:rd\\';
    const parsed = JSON.parse(dockerConfigJson("registry.example.com:5000", "license-token", password));
    const entry = parsed.auths["registry.example.com:5000"];
    expect(entry).toEqual({ username: "license-token", password, auth: expect.any(String) });
    const auth = Buffer.from(entry.auth, "base64").toString("utf8");
    expect(auth).toBe(`license-token:${password}`);
    // readers split on the FIRST colon only, as Deckhouse does
    expect(auth.slice(auth.indexOf(":") + 1)).toBe(password);
  });
});

describe("registrySecretValues", () => {
  const target = { image: "registry.example.com/client/deckhouse:rs", username: "u", password: "p", insecure: false };

  it("writes the five Deckhouse keys for https", () => {
    expect(registrySecretValues(target, [".dockerconfigjson", "address", "path", "scheme"])).toEqual({
      ".dockerconfigjson": dockerConfigJson("registry.example.com", "u", "p"),
      address: "registry.example.com",
      path: "/client/deckhouse",
      scheme: "https",
    });
  });

  it("uses http when insecure, writes a given CA, and imagesRegistry only where it exists", () => {
    const values = registrySecretValues({ ...target, insecure: true, ca: `\n${CA}\n\n` }, ["address", "imagesRegistry"]);
    expect(values.scheme).toBe("http");
    expect(values.ca).toBe(CA);
    expect(values.imagesRegistry).toBe("registry.example.com/client/deckhouse");
    expect(registrySecretValues(target, ["address"]).imagesRegistry).toBeUndefined();
  });

  it("empties an old CA when none is given, and adds no ca key otherwise", () => {
    expect(registrySecretValues(target, ["ca"]).ca).toBe("");
    expect("ca" in registrySecretValues(target, ["address"])).toBe(false);
  });
});

describe("secretPointsAt", () => {
  const data = (address: string, path: string) => ({ address: encodeBase64(address), path: encodeBase64(path) });
  it("tells whether the Secret already names the target's repository (leading slash or not)", () => {
    expect(secretPointsAt(data("registry.example.com", "/client/deckhouse"), "registry.example.com/client/deckhouse:rs")).toBe(true);
    expect(secretPointsAt(data("registry.example.com", "client/deckhouse/"), "registry.example.com/client/deckhouse:rs")).toBe(true);
    expect(secretPointsAt(data("registry.deckhouse.io", "/deckhouse/ee"), "registry.example.com/client/deckhouse:rs")).toBe(false);
    expect(secretPointsAt({}, "registry.example.com/client/deckhouse:rs")).toBe(false);
    expect(decodeBase64(encodeBase64('a"b:c'))).toBe('a"b:c');
  });
});
