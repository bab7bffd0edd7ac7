// The switch's checks on the target registry against real registries (Debian's docker-registry on 127.0.0.1,
// TLS with the test CA): one with the suite's Bearer token server, which Deckhouse can pull from, and one with
// htpasswd basic auth only (and one with no auth at all), which Deckhouse's `change-registry` refuses and so must
// the switch, in preview, before anything is declared. The cluster side is the Kubernetes API test server.
import { checkBearerAuth } from "../../copier";
import type { SwitchStageConfig } from "../../stack-config";
import { pushImage } from "../helpers/images";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { freePort, startRegistry, type TestRegistry } from "../helpers/registry";
import { runSwitchStage, seedDeckhouseCluster, type StageRun, switchConfig } from "../helpers/switch-fixture";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const SOURCE_IMAGE = `${OLD}:v1.46.3`;
const REPO = "client/deckhouse";
const TAG = `${"e".repeat(56)}-1650502544870`;
const MISSING_TAG = `${"f".repeat(56)}-1650502544871`;
const PASSWORD = 'p"a:ss-Registry';

let token: TestRegistry;
let basic: TestRegistry;
let anonymous: TestRegistry;
let kube: KubeApiServer;
const pushed: Record<string, { deckhouse: string; module: string }> = {};

async function seedTarget(reg: TestRegistry): Promise<void> {
  const layers = [{ size: 4096, seed: "switch-registry" }];
  const deckhouse = await pushImage(reg, REPO, { format: "docker", seed: "deckhouse-v1.46.3", layers }, "rock-solid-1.46");
  await pushImage(reg, REPO, { format: "oci", seed: "kube-rbac-proxy", layers }, TAG);
  const module = await pushImage(reg, REPO, { format: "oci", seed: "init", layers });
  pushed[reg.host] = { deckhouse: deckhouse.digest, module: module.digest };
}

beforeAll(async () => {
  [token, basic, anonymous, kube] = await Promise.all([
    startRegistry({ tls: true, auth: "token", username: "client", password: PASSWORD }),
    startRegistry({ tls: true, auth: "basic", username: "client", password: PASSWORD }),
    startRegistry({ tls: true, auth: "none" }),
    startKubeApiServer(),
  ]);
  await Promise.all([seedTarget(token), seedTarget(basic), seedTarget(anonymous)]);
}, 120_000);

afterAll(async () => {
  await Promise.all([token?.stop(), basic?.stop(), anonymous?.stop(), kube?.stop()]);
});

describe("the Bearer check Deckhouse's change-registry makes (GET /v2/ without credentials)", () => {
  it("accepts a registry that answers 401 with a Bearer challenge", async () => {
    const result = await checkBearerAuth(token.host, { ca: token.caPem });
    expect(result).toMatchObject({ ok: true, status: 401, schemes: ["bearer"] });
    expect(result.message).toContain(token.tokenServer?.realm as string);
  });

  it("refuses a registry with htpasswd basic auth only, saying what to enable", async () => {
    const result = await checkBearerAuth(basic.host, { ca: basic.caPem });
    expect(result).toMatchObject({ ok: false, status: 401, schemes: ["basic"] });
    expect(result.message).toBe(
      `registry ${basic.host} answers GET /v2/ with 401 and only "basic" authentication; Deckhouse pulls only with Bearer tokens: enable token authentication on the registry (Nexus: the Docker Bearer Token Realm; distribution: auth.token; Harbor, Quay, GitLab and cloud registries have it)`,
    );
  });

  it("refuses a registry that asks for no credentials at all", async () => {
    const result = await checkBearerAuth(anonymous.host, { ca: anonymous.caPem });
    expect(result).toMatchObject({ ok: false, status: 200, schemes: [] });
    expect(result.message).toMatch(/answers GET \/v2\/ with 200 without asking for credentials; Deckhouse pulls only with Bearer tokens/);
  });

  it("says when the registry cannot be reached, and that TLS is verified", async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    expect((await checkBearerAuth(closed)).message).toMatch(new RegExp(`^cannot reach registry ${closed} at https://${closed}: .*ECONNREFUSED`));
    expect((await checkBearerAuth(token.host)).message).toMatch(/^cannot reach registry .*certificate/);
  });
});

describe("the switch stage with the copier's checks against real registries", () => {
  function config(reg: TestRegistry, password = PASSWORD): SwitchStageConfig {
    return switchConfig({ targetImage: `${reg.host}/${REPO}:rock-solid-1.46`, targetUsername: "client", targetPassword: password, targetCA: reg.caPem, copyStack: "org/images-copier/copy" });
  }

  async function preview(reg: TestRegistry, opts: { tag?: string; password?: string; copiedDigest?: string } = {}): Promise<StageRun> {
    const { deckhouse, module } = pushed[reg.host];
    const copied = opts.copiedDigest ?? deckhouse;
    seedDeckhouseCluster(kube, {
      source: OLD,
      initContainers: [{ name: "init", image: `${OLD}@${module}` }],
      containers: [{ name: "deckhouse", image: SOURCE_IMAGE }, { name: "kube-rbac-proxy", image: `${OLD}:${opts.tag ?? TAG}` }],
      podImageID: `docker-pullable://${OLD}@${copied}`,
    });
    const record = {
      status: "succeeded",
      verified: true,
      targetImage: `${reg.host}/${REPO}:rock-solid-1.46`,
      runId: "1",
      sourceImage: SOURCE_IMAGE,
      sourceDigest: copied,
      sourceRepository: OLD,
      imagesDigest: `sha256:${"b".repeat(64)}`,
      updateImages: false,
    };
    return runSwitchStage(config(reg, opts.password), record, { preview: true, deps: { kube: { kubeconfig: kube.kubeconfigYaml } } });
  }

  const declared = (r: StageRun) => r.registered.filter((x) => x.type.includes("Patch") || x.type.includes("dynamic"));

  it("declares the switch when the registry asks for Bearer tokens and holds every image as copied", async () => {
    const r = await preview(token);
    expect(r.refusal).toBeUndefined();
    expect(r.resource("DeploymentPatch").inputs.spec.template.spec).toEqual({
      initContainers: [{ name: "init", image: `${token.host}/${REPO}@${pushed[token.host].module}` }],
      containers: [
        { name: "deckhouse", image: `${token.host}/${REPO}:rock-solid-1.46` },
        { name: "kube-rbac-proxy", image: `${token.host}/${REPO}:${TAG}` },
      ],
    });
    expect(token.tokenServer?.issued()).toBeGreaterThan(0);
  });

  it("refuses a basic-auth-only registry at preview in one line, before anything is declared", async () => {
    const r = await preview(basic);
    expect(r.refusal?.message).toMatch(new RegExp(`^images-copier: refusing to switch: registry ${basic.host} answers GET /v2/ with 401 and only "basic" authentication; Deckhouse pulls only with Bearer tokens: enable token authentication[^\\n]*$`));
    expect(declared(r)).toEqual([]);
  });

  it("names the one missing image", async () => {
    const r = await preview(token, { tag: MISSING_TAG });
    expect(r.refusal?.message).toBe(`images-copier: refusing to switch: 1 of 3 image(s) are not in the target registry: ${token.host}/${REPO}:${MISSING_TAG}`);
    expect(declared(r)).toEqual([]);
  });

  it("refuses a target image that is not the copied release's digest", async () => {
    const other = `sha256:${"9".repeat(64)}`;
    const r = await preview(token, { copiedDigest: other });
    expect(r.refusal?.message).toBe(
      `images-copier: refusing to switch: ${token.host}/${REPO}:rock-solid-1.46 in the target registry is ${pushed[token.host].deckhouse}, not the copied release ${other} (the tag was pushed over since the copy); run the copy stack again (change runId: \`pulumi config set runId <new value>\`, then \`pulumi up\` on the copy stack), then preview this stack again`,
    );
  });

  it("reports a wrong password as the reason, never the password", async () => {
    const r = await preview(token, { password: "wrong-secret-value" });
    expect(r.refusal?.message).toMatch(/not in the target registry/);
    expect(r.refusal?.message).not.toContain("wrong-secret-value");
    expect(declared(r)).toEqual([]);
  });
});
