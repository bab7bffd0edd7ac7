// The Kubernetes API test server's identities, impersonation, Deckhouse admission and server-side dry run, through
// real HTTPS requests: the bodies are compared with what kube-apiserver answers.
import { Agent, request } from "undici";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { deckhouseRegistrySecret } from "../helpers/deckhouse-registry-secret";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";
import { deckhouseAdmission } from "../helpers/kube-api/deckhouse-admission";
import { CLUSTER_ADMIN } from "../helpers/kube-api/rbac";

const servers: KubeApiServer[] = [];
let agent: Agent;

async function server(options?: Parameters<typeof startKubeApiServer>[0]): Promise<KubeApiServer> {
  const s = await startKubeApiServer(options);
  servers.push(s);
  agent ??= new Agent({ connect: { ca: s.caPem } });
  return s;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await agent?.close();
});

interface Call {
  token?: string;
  as?: string;
  asGroups?: string[];
  body?: unknown;
  contentType?: string;
}
async function call(s: KubeApiServer, method: string, path: string, call: Call = {}): Promise<{ code: number; body: any }> {
  const headers: Record<string, string | string[]> = { authorization: `Bearer ${call.token ?? s.token}` };
  if (call.as) headers["impersonate-user"] = call.as;
  if (call.asGroups) headers["impersonate-group"] = call.asGroups;
  if (call.body !== undefined) headers["content-type"] = call.contentType ?? (method === "PATCH" ? "application/merge-patch+json" : "application/json");
  const res = await request(`${s.url}${path}`, { method: method as "GET", headers, body: call.body === undefined ? undefined : JSON.stringify(call.body), dispatcher: agent });
  const text = await res.body.text();
  return { code: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

const SECRETS = "/api/v1/namespaces/d8-system/secrets";
const REGISTRY = `${SECRETS}/deckhouse-registry`;
const DEPLOYMENT = "/apis/apps/v1/namespaces/d8-system/deployments/deckhouse";
const registrySecret = () => deckhouseRegistrySecret({ host: "registry.deckhouse.io", username: "license-token", password: "k" });
const deployment = () => deckhouseDeployment({ containers: [{ name: "deckhouse", image: "registry.deckhouse.io/deckhouse/ee:v1.66.3" }] }) as KubeObject;
const impersonateOnly = (users: string[]) => [{ rules: [{ apiGroups: [""], resources: ["users"], verbs: ["impersonate"], resourceNames: users }] }];

describe("identities and impersonation", () => {
  test("the default token is kubernetes-admin in system:masters; writes are recorded with the identity they acted as", async () => {
    const s = await server();
    const operator = s.addToken({ user: "operator", grants: [...impersonateOnly(["system:sudouser"]), { namespace: "d8-system", rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["create"] }] }] });
    expect((await call(s, "POST", SECRETS, { body: { apiVersion: "v1", kind: "Secret", metadata: { name: "a" } } })).code).toBe(201);
    expect((await call(s, "POST", SECRETS, { token: operator, as: "system:sudouser", body: { apiVersion: "v1", kind: "Secret", metadata: { name: "b" } } })).code).toBe(201);
    expect((await call(s, "POST", SECRETS, { token: operator, body: { apiVersion: "v1", kind: "Secret", metadata: { name: "c" } } })).code).toBe(201);
    const writes = s.requests.filter((r) => r.method === "POST").map((r) => ({ user: r.user, groups: r.groups, by: r.impersonatedBy, verb: r.attributes?.verb }));
    expect(writes).toEqual([
      { user: "kubernetes-admin", groups: ["system:masters", "system:authenticated"], by: undefined, verb: "create" },
      { user: "system:sudouser", groups: ["system:authenticated"], by: "operator", verb: "create" },
      { user: "operator", groups: ["system:authenticated"], by: undefined, verb: "create" },
    ]);
  });

  test("impersonation without the permission is refused with kube-apiserver's 403 body, and nothing is written", async () => {
    const s = await server();
    const x = s.addToken({ user: "x", grants: [{ rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["get", "list", "create", "patch"] }] }, ...impersonateOnly(["someone-else"])] });
    const refused = await call(s, "POST", SECRETS, { token: x, as: "system:sudouser", body: { apiVersion: "v1", kind: "Secret", metadata: { name: "d" } } });
    expect(refused).toEqual({
      code: 403,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: 'users "system:sudouser" is forbidden: User "x" cannot impersonate resource "users" in API group "" at the cluster scope',
        reason: "Forbidden",
        details: { name: "system:sudouser", kind: "users" },
        code: 403,
      },
    });
    expect(s.get("v1", "Secret", "d8-system", "d")).toBeUndefined();
    // a group needs its own permission
    const y = s.addToken({ user: "y", grants: impersonateOnly(["system:sudouser"]) });
    const group = await call(s, "GET", SECRETS, { token: y, as: "system:sudouser", asGroups: ["system:masters"] });
    expect([group.code, group.body.message]).toEqual([403, 'groups "system:masters" is forbidden: User "y" cannot impersonate resource "groups" in API group "" at the cluster scope']);
    // an added token without grants is cluster-admin, and so may impersonate
    const admin = s.addToken({ user: "admin2" });
    expect((await call(s, "GET", REGISTRY, { token: admin, as: "system:sudouser" })).code).toBe(404);
    expect((await call(s, "GET", SECRETS, { token: "wrong" })).code).toBe(401);
  });

  test("a client certificate is CN = user, O = groups", async () => {
    const s = await server();
    const kubeconfig = await s.clientCertKubeconfigYaml();
    const { connectKube } = await import("../../components/kube");
    const kube = await connectKube({ kubeconfig });
    try {
      await kube.list(SECRETS);
    } finally {
      await kube.close();
    }
    expect(s.requests.at(-1)).toMatchObject({ user: "admin", groups: ["system:masters", "system:authenticated"] });
  });
});

describe("Deckhouse's admission policies", () => {
  test("v1.66: kubernetes-admin may not patch or delete heritage: deckhouse objects; system:sudouser may", async () => {
    const s = await server({ deckhouse: { version: "v1.66" } });
    s.put(registrySecret());
    const patched = await call(s, "PATCH", REGISTRY, { body: { data: { address: "ZXhhbXBsZQ==" } } });
    const message =
      'secrets "deckhouse-registry" is forbidden: ValidatingAdmissionPolicy \'label-objects.deckhouse.io\' with binding \'heritage-label-objects.deckhouse.io\' denied request: Creating, updating and deleting an objects with the `heritage: deckhouse` label is forbidden';
    expect(patched).toEqual({
      code: 403,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message,
        reason: "Forbidden",
        details: { name: "deckhouse-registry", kind: "secrets", causes: [{ message: message.slice(message.indexOf("ValidatingAdmissionPolicy")) }] },
        code: 403,
      },
    });
    expect((await call(s, "DELETE", REGISTRY)).body.message).toBe(message);
    expect((await call(s, "PUT", REGISTRY, { body: registrySecret() })).code).toBe(403);
    expect(s.get("v1", "Secret", "d8-system", "deckhouse-registry")?.data).toEqual(registrySecret().data);
    expect((await call(s, "PATCH", REGISTRY, { as: "system:sudouser", body: { data: { address: "ZXhhbXBsZQ==" } } })).code).toBe(200);
    expect((s.get("v1", "Secret", "d8-system", "deckhouse-registry")?.data as Record<string, string>).address).toBe("ZXhhbXBsZQ==");
    // a d8- service account (with RBAC allowing it) is allowed too; reads are never refused
    s.setGrants("system:serviceaccount:d8-system:deckhouse", CLUSTER_ADMIN);
    expect((await call(s, "PATCH", REGISTRY, { as: "system:serviceaccount:d8-system:deckhouse", body: { data: { scheme: "aHR0cA==" } } })).code).toBe(200);
    expect((await call(s, "GET", REGISTRY)).code).toBe(200);
  });

  test("releases: none before v1.62 or on dev; v1.62-v1.64 exempt kubernetes-admin; objects without the label are free", async () => {
    for (const [version, code] of [["v1.58", 200], ["dev", 200], ["v1.63", 200], ["v1.65", 403]] as const) {
      const s = await server({ deckhouse: { version } });
      s.put(registrySecret());
      expect([version, (await call(s, "PATCH", REGISTRY, { body: { data: { path: "L3g=" } } })).code]).toEqual([version, code]);
    }
    // DELETE is refused from v1.63, for a user other than kubernetes-admin
    for (const [version, code] of [["v1.62", 200], ["v1.63", 403]] as const) {
      const s = await server({ deckhouse: { version } });
      s.put(registrySecret());
      const user = s.addToken({ user: "operator" });
      expect([version, (await call(s, "DELETE", REGISTRY, { token: user })).code]).toEqual([version, code]);
    }
    const s = await server({ deckhouse: { version: "v1.70.2" } });
    expect((await call(s, "POST", SECRETS, { body: { apiVersion: "v1", kind: "Secret", metadata: { name: "ours", labels: { "app.kubernetes.io/managed-by": "images-copier" } } } })).code).toBe(201);
    expect((await call(s, "DELETE", `${SECRETS}/ours`)).code).toBe(200);
    // the maintenance label takes an object out of the binding
    s.put({ ...registrySecret(), metadata: { ...registrySecret().metadata, labels: { heritage: "deckhouse", "maintenance.deckhouse.io/no-resource-reconciliation": "" } } });
    expect((await call(s, "PATCH", REGISTRY, { body: { data: { path: "L3g=" } } })).code).toBe(200);
  });

  test("deny-set-heritage-label (v1.77): a user may not set heritage: deckhouse on an object, system:sudouser may; before, label-objects refuses the create", async () => {
    const before = await server({ deckhouse: { version: "v1.76" } });
    const early = await call(before, "POST", SECRETS, { body: { apiVersion: "v1", kind: "Secret", metadata: { name: "labelled", labels: { heritage: "deckhouse" } } } });
    expect([early.code, early.body.message]).toEqual([403, expect.stringContaining("ValidatingAdmissionPolicy 'label-objects.deckhouse.io' with binding 'heritage-label-objects.deckhouse.io'")]);
    const s = await server({ deckhouse: { version: "v1.77" } });
    const job = { apiVersion: "v1", kind: "Secret", metadata: { name: "labelled", labels: { heritage: "deckhouse" } } };
    const created = await call(s, "POST", SECRETS, { body: job });
    expect([created.code, created.body.message]).toEqual([
      403,
      'secrets "labelled" is forbidden: ValidatingAdmissionPolicy \'deny-set-heritage-label.deckhouse.io\' with binding \'deny-set-heritage-label.deckhouse.io\' denied request: Setting the `heritage` label is forbidden for non-system users',
    ]);
    s.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "plain", namespace: "d8-system" } });
    expect((await call(s, "PATCH", `${SECRETS}/plain`, { body: { metadata: { labels: { heritage: "deckhouse" } } } })).body.message).toContain("'deny-set-heritage-label.deckhouse.io'");
    expect((await call(s, "POST", SECRETS, { as: "system:sudouser", body: job })).code).toBe(201);
  });

  test("v1.75 exemptions: kube-* service accounts and a DELETE of an object labelled heritage-bypass: delete; not on v1.74", async () => {
    for (const [version, code] of [["v1.74", 403], ["v1.75", 200]] as const) {
      const s = await server({ deckhouse: { version } });
      s.setGrants("system:serviceaccount:kube-flannel:flannel", CLUSTER_ADMIN);
      s.put(registrySecret());
      const sa = await call(s, "PATCH", REGISTRY, { as: "system:serviceaccount:kube-flannel:flannel", body: { data: { path: "L3g=" } } });
      s.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "bypass", namespace: "d8-system", labels: { heritage: "deckhouse", "security.deckhouse.io/heritage-bypass": "delete" } } });
      const bypass = await call(s, "DELETE", `${SECRETS}/bypass`);
      expect([version, sa.code, bypass.code]).toEqual([version, code, code]);
    }
  });

  test("exempt kinds (StorageClass, DeckhouseRelease, ModuleRelease) and a ModuleSource scanInterval-only change (v1.75) pass; other kinds do not", () => {
    const admit = deckhouseAdmission("v1.76")!;
    const admin = { user: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] };
    const labelled = (kind: string, spec: Record<string, unknown> = {}) => ({ kind, metadata: { name: "x", labels: { heritage: "deckhouse" } }, spec });
    const update = (kind: string, resource: string, before: object, after: object) =>
      admit({ operation: "UPDATE", kind, resource, group: "deckhouse.io", name: "x", identity: admin, oldObject: before as never, object: after as never })?.message;
    for (const kind of ["StorageClass", "DeckhouseRelease", "ModuleRelease"]) expect([kind, update(kind, "x", labelled(kind), labelled(kind, { a: 1 }))]).toEqual([kind, undefined]);
    const source = (spec: Record<string, unknown>) => labelled("ModuleSource", { registry: { repo: "r.example/deckhouse" }, ...spec });
    expect(update("ModuleSource", "modulesources", source({ scanInterval: "3m" }), source({ scanInterval: "10m" }))).toBeUndefined();
    expect(update("ModuleSource", "modulesources", source({ scanInterval: "3m" }), { ...source({ scanInterval: "10m" }), spec: { registry: { repo: "other.example/x" }, scanInterval: "10m" } })).toBe(
      'modulesources.deckhouse.io "x" is forbidden: ValidatingAdmissionPolicy \'label-objects.deckhouse.io\' with binding \'heritage-label-objects.deckhouse.io\' denied request: Creating, updating and deleting an objects with the `heritage: deckhouse` label is forbidden',
    );
    expect(update("ModuleConfig", "moduleconfigs", labelled("ModuleConfig"), labelled("ModuleConfig", { a: 1 }))).toMatch(/^moduleconfigs\.deckhouse\.io "x" is forbidden/);
  });

  test("the restartedAt exemption: a pod-template restartedAt added or changed passes, any other change of the Deployment is refused", async () => {
    const s = await server({ deckhouse: { version: "v1.66" } });
    s.put(deployment());
    const restart = (at: string) => ({ spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": at } } } } });
    expect((await call(s, "PATCH", DEPLOYMENT, { body: restart("2026-12-06T15:00:00Z") })).code).toBe(200);
    expect((await call(s, "PATCH", DEPLOYMENT, { body: restart("2026-12-06T15:00:00Z") })).code).toBe(403); // unchanged: not exempt
    expect((await call(s, "PATCH", DEPLOYMENT, { body: restart("2026-12-06T16:00:00Z") })).code).toBe(200);
    const image = await call(s, "PATCH", DEPLOYMENT, { body: { spec: { template: { spec: { containers: [{ name: "deckhouse", image: "r.example/x:v1" }] } } } } });
    expect([image.code, image.body.message]).toEqual([403, expect.stringMatching(/^deployments\.apps "deckhouse" is forbidden: ValidatingAdmissionPolicy 'label-objects\.deckhouse\.io'/)]);
    expect(image.body.details).toMatchObject({ name: "deckhouse", group: "apps", kind: "deployments" });
  });
});

describe("server-side dry run", () => {
  test("dryRun=All answers what would be stored and stores nothing: no watch event, no hook", async () => {
    const s = await server({ deckhouse: { version: "v1.66" } });
    s.put(registrySecret());
    const hooked: string[] = [];
    s.onCreate("Secret", (o) => hooked.push(o.metadata.name));
    const events: string[] = [];
    const watch = await request(`${s.url}${SECRETS}?watch=true`, { headers: { authorization: `Bearer ${s.token}` }, dispatcher: agent });
    const reading = (async () => {
      for await (const chunk of watch.body) events.push(...String(chunk).trim().split("\n").map((l) => `${JSON.parse(l).type} ${JSON.parse(l).object.metadata.name}`));
    })().catch(() => undefined);
    const created = await call(s, "POST", `${SECRETS}?dryRun=All`, { body: { apiVersion: "v1", kind: "Secret", metadata: { name: "dry" }, data: { a: "Yg==" } } });
    expect(created.code).toBe(201);
    expect(created.body).toMatchObject({ kind: "Secret", metadata: { name: "dry", namespace: "d8-system" }, data: { a: "Yg==" } });
    expect(created.body.metadata.uid).toEqual(expect.any(String));
    const patched = await call(s, "PATCH", `${REGISTRY}?dryRun=All`, { as: "system:sudouser", body: { data: { address: "ZHJ5" } } });
    expect([patched.code, patched.body.data.address, patched.body.metadata.resourceVersion]).toEqual([200, "ZHJ5", s.get("v1", "Secret", "d8-system", "deckhouse-registry")?.metadata.resourceVersion]);
    expect((await call(s, "PUT", `${REGISTRY}?dryRun=All`, { as: "system:sudouser", body: registrySecret() })).code).toBe(200);
    expect((await call(s, "DELETE", `${REGISTRY}?dryRun=All`, { as: "system:sudouser" })).code).toBe(200);
    // admission runs in a dry run: the same refusal as a real write
    const refused = await call(s, "PATCH", `${REGISTRY}?dryRun=All`, { body: { data: { address: "ZHJ5" } } });
    expect([refused.code, refused.body.message]).toEqual([403, expect.stringContaining("'label-objects.deckhouse.io'")]);
    expect(s.get("v1", "Secret", "d8-system", "dry")).toBeUndefined();
    expect(s.get("v1", "Secret", "d8-system", "deckhouse-registry")?.data).toEqual(registrySecret().data);
    // a real write afterwards is the first event the watch sees
    expect((await call(s, "POST", SECRETS, { body: { apiVersion: "v1", kind: "Secret", metadata: { name: "real" } } })).code).toBe(201);
    for (let i = 0; i < 100 && !events.includes("ADDED real"); i++) await new Promise((r) => setTimeout(r, 20));
    watch.body.destroy();
    await reading;
    expect(events).toEqual(["ADDED deckhouse-registry", "ADDED real"]);
    expect(hooked).toEqual(["real"]);
    expect(s.requests.filter((r) => r.dryRun).map((r) => r.method)).toEqual(["POST", "PATCH", "PUT", "DELETE", "PATCH"]);
  });

  test("a dryRun value other than All is refused and nothing is written", async () => {
    const s = await server();
    const bad = await call(s, "POST", `${SECRETS}?dryRun=true`, { body: { apiVersion: "v1", kind: "Secret", metadata: { name: "x" } } });
    expect([bad.code, bad.body.message]).toEqual([422, 'dryRun: Unsupported value: "true": supported values: "All"']);
    expect(s.get("v1", "Secret", "d8-system", "x")).toBeUndefined();
  });

  test("authorization runs in a dry run too", async () => {
    const s = await server();
    const reader = s.addToken({ user: "reader", grants: [{ namespace: "d8-system", rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }] }] });
    const dry = await call(s, "DELETE", `${REGISTRY}?dryRun=All`, { token: reader });
    expect([dry.code, dry.body.message]).toEqual([403, 'secrets "deckhouse-registry" is forbidden: User "reader" cannot delete resource "secrets" in API group "" in the namespace "d8-system"']);
    s.setGrants("reader", CLUSTER_ADMIN);
    expect((await call(s, "DELETE", `${REGISTRY}?dryRun=All`, { token: reader })).code).toBe(404);
  });
});
