// The secret scanner the stack scenarios end with: it must find a credential in every form a leak takes, and
// nothing where the engine would encrypt it.
import { findPlaintextSecrets, SECRET_SIG, SIG_KEY, type ResourceState } from "../helpers/pulumi-engine";

const PASSWORD = 'Pass"Word:1-xyz';
const TOKEN = "license-key-0123456789abcdef";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

function resource(name: string, inputs: Record<string, unknown>, outputs: Record<string, unknown> = {}): ResourceState {
  return { urn: `urn:pulumi:s::p::t::${name}`, type: "t", name, custom: true, inputs, outputs, dependencies: [], propertyDependencies: {}, additionalSecretOutputs: [] };
}

test("finds plain, JSON-escaped, base64 (any alignment) and nested base64 forms, and names where", () => {
  const dockerConfig = JSON.stringify({ auths: { "r.example": { auth: b64(`license-token:${TOKEN}`) } } });
  const state = {
    resources: [
      resource("plain", { note: `token is ${TOKEN}` }),
      resource("escaped", {}, { json: JSON.stringify({ password: PASSWORD }) }),
      resource("aligned", { auth: b64(`u:${PASSWORD}`), auth2: b64(`us:${PASSWORD}`), auth3: b64(`use:${PASSWORD}`) }),
      resource("nested", {}, { data: { ".dockerconfigjson": b64(dockerConfig) } }),
      resource("provider", { __provider: `exports.handler = () => ({ key: "${TOKEN}" });` }),
    ],
  };
  const found = findPlaintextSecrets({ state }, [PASSWORD, TOKEN]);
  const where = found.map((f) => `${f.secret} ${f.where} ${f.form}`);
  expect(where).toEqual(
    expect.arrayContaining([
      "1 state urn:pulumi:s::p::t::plain inputs note plain",
      "0 state urn:pulumi:s::p::t::escaped outputs json json-escaped",
      "0 state urn:pulumi:s::p::t::aligned inputs auth base64",
      "0 state urn:pulumi:s::p::t::aligned inputs auth2 base64",
      "0 state urn:pulumi:s::p::t::aligned inputs auth3 base64",
      "1 state urn:pulumi:s::p::t::nested outputs data..dockerconfigjson inside decoded base64",
      "1 state urn:pulumi:s::p::t::provider inputs __provider plain",
    ]),
  );
  expect(found).toHaveLength(7);
  // the finding never carries the value itself
  expect(JSON.stringify(found)).not.toContain(TOKEN);
});

test("secret-marked values, debug lines and unrelated base64 are not findings; messages and log lines are scanned", () => {
  const state = {
    resources: [resource("marked", { password: secret(PASSWORD), data: secret({ x: b64(TOKEN) }) }, { all: secret({ deep: [TOKEN] }), image: b64("some-other-text") })],
  };
  expect(findPlaintextSecrets({ state }, [PASSWORD, TOKEN])).toEqual([]);

  const messages = [{ rpc: "RegisterResourceOutputs" as const, urn: "urn:x", payload: { out: { summary: `copied with ${TOKEN}` } } }];
  const diagnostics = [
    { severity: "debug" as const, source: "program" as const, message: `RegisterResource RPC finished: ${PASSWORD}` },
    { severity: "info" as const, source: "provider-host" as const, message: `progress: ${b64(`x:${PASSWORD}`)}` },
  ];
  expect(findPlaintextSecrets({ messages, diagnostics }, [PASSWORD, TOKEN]).map((f) => `${f.secret} ${f.where}`)).toEqual([
    "1 message 0 RegisterResourceOutputs  urn:x out.summary",
    "0 diagnostic 1 (provider-host)",
  ]);
});
