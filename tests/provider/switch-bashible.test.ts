// BashibleApplied against the Kubernetes API test server: the test plays Deckhouse's node-manager (the
// configuration-checksums Secret, NodeGroup status) and bashible on each node (its checksum annotation). A three-master
// cluster whose third master lags and then catches up; one that never does; a checksum not re-rendered yet; no
// NodeGroups at all; the checksums read before the switch kept over later runs; the provider as Pulumi stores it.
import * as pulumi from "@pulumi/pulumi";
import { makeBashibleProvider, type BashibleInputs, type BashibleOutputs } from "../../components/switch/bashible-provider";
import { connectKube } from "../../components/kube";
import { readNodeGroupsBefore } from "../../components/switch/node-groups";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { bashibleApplied, clearNodeGroups, seedNodeGroups, setChecksums } from "../helpers/node-groups";
import { configureProvider, serializeAndRevive } from "../helpers/serialized-provider";

const OLD = "1f".repeat(32);
const NEW = "9c".repeat(32);
const MASTERS = { name: "master", nodes: ["master-0", "master-1", "master-2"] };
const WORKERS = { name: "worker", nodes: ["worker-a"] };

let server: KubeApiServer;
const timers = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  server = await startKubeApiServer();
});
afterEach(() => {
  for (const t of timers) clearInterval(t);
  timers.clear();
  clearNodeGroups(server);
});
afterAll(async () => {
  await server?.stop();
});

/** Runs `step` each time BashibleApplied has read the NodeGroups `every` more times (the test's node-manager and bashible). */
function afterReads(every: number, steps: Array<() => void>): void {
  const reads = () => server.requests.filter((r) => r.method === "GET" && r.path === "/apis/deckhouse.io/v1/nodegroups").length;
  let base = reads();
  const timer = setInterval(() => {
    if (steps.length === 0) return clearInterval(timer);
    if (reads() - base >= every) {
      base = reads();
      steps.shift()!();
    }
  }, 10);
  timers.add(timer);
}

async function before(): Promise<BashibleInputs["before"]> {
  const kube = await connectKube({ kubeconfig: server.kubeconfigYaml });
  try {
    return await readNodeGroupsBefore(kube);
  } finally {
    await kube.close();
  }
}

async function provider(lines: string[]) {
  const p = makeBashibleProvider({ log: (line) => lines.push(line), msPerMinute: 1000 });
  await configureProvider(p as never, { "kubernetes:kubeconfig": server.kubeconfigYaml });
  return p;
}

const inputs = (b: BashibleInputs["before"], extra: Partial<BashibleInputs> = {}): BashibleInputs => ({ scope: "master", timeoutMinutes: 20, before: b, beforeOnOldRegistry: true, pollSeconds: 0.02, ...extra });

test("three masters: the switch waits while one master's bashible lags, relays the progress, and succeeds once it caught up", async () => {
  seedNodeGroups(server, [MASTERS, WORKERS], () => OLD);
  const captured = await before();
  expect(captured).toEqual({ present: true, checksums: { master: OLD, worker: OLD } });
  // the switch happened: node-manager re-renders (new checksum), two masters apply it at once, master-2 later
  setChecksums(server, { master: NEW, worker: NEW });
  bashibleApplied(server, "master-0", NEW);
  bashibleApplied(server, "master-1", NEW);
  afterReads(3, [() => bashibleApplied(server, "master-2", NEW)]);
  const lines: string[] = [];
  const p = await provider(lines);
  const result = await p.create(inputs(captured));
  const outs = result.outs as BashibleOutputs;
  expect(outs.nodeGroups).toEqual([{ name: "master", checksum: NEW, before: OLD, nodes: 3, upToDate: 3 }]);
  expect(lines[0]).toBe("images-copier: bashible: master: 2/3 nodes up to date (Updating)");
  // (node-manager's status may follow the node's annotation a moment later: "3/3 … (Updating)" can come in between)
  expect(lines.slice(-2)).toEqual([
    "images-copier: bashible: master: 3/3 nodes up to date (applied)",
    "images-copier: bashible has applied the new registry on NodeGroup master (3 nodes)",
  ]);
  // the worker group lags but is not waited for with waitNodeGroups: master
  expect(outs.skipped).toBeUndefined();
}, 30_000);

test("all: master first, then the other groups; a checksum not re-rendered yet is waited for, not taken as applied", async () => {
  seedNodeGroups(server, [MASTERS, WORKERS], () => OLD);
  const captured = await before();
  // node-manager has not re-rendered yet: every node is in sync with the OLD checksum
  afterReads(2, [
    () => setChecksums(server, { master: NEW, worker: NEW }),
    () => MASTERS.nodes.forEach((n) => bashibleApplied(server, n, NEW)),
    () => bashibleApplied(server, "worker-a", NEW),
  ]);
  const lines: string[] = [];
  const outs = (await (await provider(lines)).create(inputs(captured, { scope: "all" }))).outs as BashibleOutputs;
  expect(outs.nodeGroups.map((g) => `${g.name}:${g.upToDate}/${g.nodes}`)).toEqual(["master:3/3", "worker:1/1"]);
  expect(lines[0]).toBe(
    `images-copier: bashible: master: configuration not re-rendered for the new registry yet (checksum ${OLD.slice(0, 12)}… as before the switch); worker: configuration not re-rendered for the new registry yet (checksum ${OLD.slice(0, 12)}… as before the switch)`,
  );
  expect(lines).toContain("images-copier: bashible: master: 0/3 nodes up to date (Updating); worker: 0/1 nodes up to date (Updating)");
  expect(lines).toContain("images-copier: bashible: master: 3/3 nodes up to date (applied); worker: 0/1 nodes up to date (Updating)");
  expect(lines[lines.length - 1]).toBe("images-copier: bashible has applied the new registry on NodeGroups master (3 nodes), worker (1 node)");
}, 30_000);

test("a master whose bashible never catches up fails the update in one line naming the node, its annotation and the expected checksum", async () => {
  seedNodeGroups(server, [MASTERS], () => OLD);
  const captured = await before();
  setChecksums(server, { master: NEW });
  bashibleApplied(server, "master-0", NEW);
  bashibleApplied(server, "master-1", NEW);
  const lines: string[] = [];
  // 1 "minute" of 300 ms
  const p = makeBashibleProvider({ log: (line) => lines.push(line), msPerMinute: 300 });
  await configureProvider(p as never, { "kubernetes:kubeconfig": server.kubeconfigYaml });
  const error = await p.create(inputs(captured, { timeoutMinutes: 1 })).then(() => undefined, (e: Error) => e);
  expect(error?.message).toBe(
    `images-copier: bashible has not applied the new registry within 1 minute (nodeGroupsTimeoutMinutes): NodeGroup master: 2/3 nodes up to date, Updating True; lagging: master-2 (node.deckhouse.io/configuration-checksum "${OLD}"), expected "${NEW}" (journalctl -u bashible on those nodes; pulumi up waits again)`,
  );
  expect(lines).toEqual(["images-copier: bashible: master: 2/3 nodes up to date (Updating)"]);
}, 30_000);

test("no NodeGroups (managed Kubernetes): nothing is waited for, and the update says so; waitNodeGroups none waits for nothing", async () => {
  const captured = await before();
  expect(captured).toEqual({ present: false, checksums: {} });
  const lines: string[] = [];
  const p = await provider(lines);
  const outs = (await p.create(inputs(captured))).outs as BashibleOutputs;
  expect(outs).toMatchObject({ skipped: "the cluster has no NodeGroups (managed Kubernetes): bashible is not Deckhouse's there", nodeGroups: [] });
  expect(lines).toEqual(["images-copier: bashible: not waited for: the cluster has no NodeGroups (managed Kubernetes): bashible is not Deckhouse's there"]);

  seedNodeGroups(server, [MASTERS], () => OLD);
  const none = (await p.create(inputs(await before(), { scope: "none" }))).outs as BashibleOutputs;
  expect(none.skipped).toBe("waitNodeGroups is none");
});

test("the checksums read before the switch are kept: a later run's reading (the switched cluster) changes nothing; another scope waits again with the kept ones", async () => {
  seedNodeGroups(server, [MASTERS, WORKERS], () => NEW);
  const p = await provider([]);
  const olds = { ...inputs({ present: true, checksums: { master: OLD, worker: OLD } }), nodeGroups: [], appliedAt: "2026-01-01T00:00:00Z" } as BashibleOutputs;
  const later = inputs({ present: true, checksums: { master: NEW, worker: NEW } }, { beforeOnOldRegistry: false });
  expect((await p.diff("node-groups", olds, later)).changes).toBe(false);
  expect((await p.diff("node-groups", olds, { ...later, scope: "all" })).changes).toBe(true);
  const updated = (await p.update("node-groups", olds, { ...later, scope: "all" })).outs as BashibleOutputs;
  expect(updated.before).toEqual(olds.before);
  expect(updated.beforeOnOldRegistry).toBe(true);
  expect(updated.nodeGroups.map((g) => [g.name, g.before, g.checksum])).toEqual([["master", OLD, NEW], ["worker", OLD, NEW]]);
});

test("serialized as the engine stores it: no local requires, configured from the stack; it waits as itself", async () => {
  seedNodeGroups(server, [MASTERS], () => OLD);
  const captured = await before();
  setChecksums(server, { master: NEW });
  for (const n of MASTERS.nodes) bashibleApplied(server, n, NEW);
  const { provider: revived, text } = await serializeAndRevive<pulumi.dynamic.ResourceProvider>(makeBashibleProvider());
  expect(text).not.toMatch(/require\("\.\.?\//);
  await configureProvider(revived, { "kubernetes:kubeconfig": server.kubeconfigYaml });
  const outs = (await revived.create!(inputs(captured))).outs as BashibleOutputs;
  expect(outs.nodeGroups).toEqual([{ name: "master", checksum: NEW, before: OLD, nodes: 3, upToDate: 3 }]);
});

test("RBAC refusing the NodeGroups: the gate's read records it instead of refusing the switch; the wait fails at once in one line saying what to grant", async () => {
  seedNodeGroups(server, [MASTERS], () => OLD);
  const allow = server.rejectRequests({ method: "GET", kind: "NodeGroup" }, 403, "Forbidden", 'nodegroups.deckhouse.io is forbidden: User "robot" cannot list resource "nodegroups"');
  try {
    const captured = await before();
    expect(captured).toMatchObject({ present: false, checksums: {}, unreadable: expect.stringContaining("cannot list resource") });
    const error = await (await provider([])).create(inputs(captured)).then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(/^images-copier: cannot read the NodeGroups, nodes or Secret d8-cloud-instance-manager\/configuration-checksums to wait for bashible: .*cannot list resource "nodegroups".* \(grant list on nodegroups.deckhouse.io and nodes, get on that Secret, or set waitNodeGroups: none\)$/);
    expect(error?.message.split("\n")).toHaveLength(1);
  } finally {
    allow();
  }
});
