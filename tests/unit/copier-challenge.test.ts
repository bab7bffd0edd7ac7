import { parseChallenges } from "../../copier/transport/challenge";

describe("WWW-Authenticate challenge parsing", () => {
  it("reads a distribution Bearer challenge with realm, service and scope", () => {
    const [c] = parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:deckhouse/ee:pull"');
    expect(c).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example.com/token", service: "registry.example.com", scope: "repository:deckhouse/ee:pull" },
    });
  });

  it("reads Basic with a realm and lower-cases scheme and parameter names", () => {
    expect(parseChallenges('BASIC Realm="Registry Realm"')).toEqual([{ scheme: "basic", params: { realm: "Registry Realm" } }]);
  });

  it("reads several challenges in one header, unquoted values and escaped quotes", () => {
    const out = parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm=https://t.example/token, service=svc, error="invalid_token"');
    expect(out).toEqual([
      { scheme: "basic", params: { realm: 'a "quoted" realm' } },
      { scheme: "bearer", params: { realm: "https://t.example/token", service: "svc", error: "invalid_token" } },
    ]);
  });

  it("reads challenges spread over several header lines and ignores an empty header", () => {
    expect(parseChallenges(['Basic realm="x"', 'Bearer realm="y"']).map((c) => c.scheme)).toEqual(["basic", "bearer"]);
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges("")).toEqual([]);
  });

  it("keeps commas inside quoted scope values", () => {
    const [c] = parseChallenges('Bearer realm="r",scope="repository:a:pull,push"');
    expect(c.params.scope).toBe("repository:a:pull,push");
  });
});
