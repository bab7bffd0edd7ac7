// Bashible has applied the new registry to the nodes (Deckhouse's node-manager module, modules/040-node-manager):
// the Secret d8-cloud-instance-manager/configuration-checksums holds one checksum per NodeGroup (key: the group's
// name) of the configuration bashible must apply; bashible writes the node annotation
// node.deckhouse.io/configuration-checksum once it has applied it; NodeGroup (deckhouse.io/v1, cluster-scoped)
// status counts `nodes` and `upToDate` and carries the conditions `Updating`, `WaitingForDisruptiveApproval`, ….
// A NodeGroup has applied the switch when its checksum differs from the one read before the switch (the registry
// is part of the configuration), every node of it carries that checksum, `upToDate == nodes` and `Updating` is not
// True. Runs inside a dynamic provider: zod is required at run time, no module-level schema.
import type { z as Zod } from "zod";
import { apiPath, type KubeClient } from "../kube";

export const CHECKSUMS_NAMESPACE = "d8-cloud-instance-manager";
export const CHECKSUMS_SECRET = "configuration-checksums";
export const CHECKSUM_ANNOTATION = "node.deckhouse.io/configuration-checksum";
export const GROUP_LABEL = "node.deckhouse.io/group";
export const MASTER_GROUP = "master";

export type NodeGroupScope = "master" | "all" | "none";

/** What the switch read before it changed anything. */
export interface NodeGroupsBefore {
  /** false: the cluster has no NodeGroups (managed Kubernetes, or node-manager off). */
  present: boolean;
  /** The checksum of each NodeGroup, by name. */
  checksums: Record<string, string>;
  /** Why they could not be read (e.g. RBAC): the wait then requires no change, only nodes in step with the group. */
  unreadable?: string;
}

export interface NodeView {
  name: string;
  /** Its node.deckhouse.io/configuration-checksum; "" when absent. */
  checksum: string;
}

export interface NodeGroupProgress {
  name: string;
  /** The group's checksum now, and the one read before the switch ("" when none). */
  checksum: string;
  before: string;
  nodes: number;
  upToDate: number;
  updating: boolean;
  applied: boolean;
  /** Nodes whose annotation is not the group's checksum now. */
  lagging: NodeView[];
}

function schemas() {
  const { z } = require("zod") as { z: typeof Zod };
  const condition = z.object({ type: z.string(), status: z.string() });
  const nodeGroupList = z.object({
    items: z.array(
      z.object({
        metadata: z.object({ name: z.string() }),
        status: z.object({ nodes: z.number().nullish(), upToDate: z.number().nullish(), conditions: z.array(condition).nullish() }).nullish(),
      }),
    ),
  });
  const nodeList = z.object({
    items: z.array(z.object({ metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()).nullish(), annotations: z.record(z.string(), z.string()).nullish() }) })),
  });
  const secret = z.object({ data: z.record(z.string(), z.string()).nullish() });
  return { nodeGroupList, nodeList, secret };
}

function parsed<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new Error(`images-copier: ${what} is not shaped as expected (${issue ? `${issue.path.map(String).join(".")}: ${issue.message}` : "invalid"})`);
}

const is404 = (err: unknown) => (err as { statusCode?: number })?.statusCode === 404;

/** The NodeGroups, or undefined when the cluster has no such kind (no node-manager: managed Kubernetes). */
async function listNodeGroups(kube: KubeClient) {
  let list: unknown;
  try {
    list = await kube.list(apiPath({ apiVersion: "deckhouse.io/v1", resource: "nodegroups" }));
  } catch (err) {
    if (is404(err)) return undefined;
    throw err;
  }
  return parsed(schemas().nodeGroupList, list, "the NodeGroup list").items;
}

/** The Secret's checksums by NodeGroup name (decoded); empty when it does not exist. */
async function readChecksums(kube: KubeClient): Promise<Record<string, string>> {
  const secret = await kube.get(apiPath({ apiVersion: "v1", resource: "secrets", namespace: CHECKSUMS_NAMESPACE, name: CHECKSUMS_SECRET }));
  if (!secret) return {};
  const data = parsed(schemas().secret, secret, `Secret ${CHECKSUMS_NAMESPACE}/${CHECKSUMS_SECRET}`).data ?? {};
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8").trim()]));
}

/** Read before the switch changes anything (the program's read of the cluster). Never fails the gate: an
 *  unreadable answer is recorded, and the wait after the rollout (unless waitNodeGroups is none) says what is missing. */
export async function readNodeGroupsBefore(kube: KubeClient): Promise<NodeGroupsBefore> {
  try {
    const groups = await listNodeGroups(kube);
    if (!groups || groups.length === 0) return { present: false, checksums: {} };
    return { present: true, checksums: await readChecksums(kube) };
  } catch (err) {
    return { present: false, checksums: {}, unreadable: err instanceof Error ? err.message : String(err) };
  }
}

/** One look at every NodeGroup: its checksum, nodes, and whether it has applied a configuration other than `before`. */
export async function nodeGroupProgress(kube: KubeClient, before: NodeGroupsBefore, requireChange: boolean): Promise<NodeGroupProgress[] | undefined> {
  const groups = await listNodeGroups(kube);
  if (!groups || groups.length === 0) return undefined;
  const checksums = await readChecksums(kube);
  const nodes = parsed(schemas().nodeList, await kube.list(apiPath({ apiVersion: "v1", resource: "nodes" }), { labelSelector: GROUP_LABEL }), "the Node list").items;
  return groups.map((group) => {
    const name = group.metadata.name;
    const checksum = checksums[name] ?? "";
    const members = nodes
      .filter((n) => n.metadata.labels?.[GROUP_LABEL] === name)
      .map((n) => ({ name: n.metadata.name, checksum: n.metadata.annotations?.[CHECKSUM_ANNOTATION] ?? "" }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const lagging = members.filter((n) => n.checksum !== checksum);
    const status = group.status ?? {};
    const updating = (status.conditions ?? []).some((c) => c.type === "Updating" && c.status === "True");
    const previous = before.unreadable ? "" : (before.checksums[name] ?? "");
    const changed = !requireChange || previous === "" || checksum !== previous;
    const counted = (status.nodes ?? members.length) === (status.upToDate ?? 0);
    return {
      name,
      checksum,
      before: previous,
      nodes: members.length,
      upToDate: members.length - lagging.length,
      updating,
      applied: checksum !== "" && changed && counted && !updating && lagging.length === 0,
      lagging,
    };
  });
}

/** The groups the scope waits for, master first. */
export function inScope(groups: NodeGroupProgress[], scope: NodeGroupScope): NodeGroupProgress[] {
  if (scope === "none") return [];
  const master = groups.filter((g) => g.name === MASTER_GROUP);
  return scope === "master" ? master : [...master, ...groups.filter((g) => g.name !== MASTER_GROUP).sort((a, b) => a.name.localeCompare(b.name))];
}

const short = (checksum: string) => (checksum.length > 16 ? `${checksum.slice(0, 12)}…` : checksum) || "none";

/** The progress line of one group, e.g. `master: 2/3 nodes up to date`. */
export function describeProgress(g: NodeGroupProgress): string {
  if (g.checksum === "") return `${g.name}: no checksum in Secret ${CHECKSUMS_NAMESPACE}/${CHECKSUMS_SECRET} yet`;
  if (g.before !== "" && g.checksum === g.before && !g.applied) return `${g.name}: configuration not re-rendered for the new registry yet (checksum ${short(g.checksum)} as before the switch)`;
  const state = g.applied ? "applied" : g.updating ? "Updating" : "";
  return `${g.name}: ${g.upToDate}/${g.nodes} nodes up to date${state ? ` (${state})` : ""}`;
}

/** What lags in one group, for the timeout's line: the nodes with their annotation and the expected checksum. */
export function describeLag(g: NodeGroupProgress): string {
  if (g.checksum === "" || (g.before !== "" && g.checksum === g.before && g.lagging.length === 0)) return describeProgress(g);
  const nodes = g.lagging.map((n) => `${n.name} (${CHECKSUM_ANNOTATION} ${n.checksum ? `"${n.checksum}"` : "absent"})`).join(", ");
  const flags = [g.updating ? "Updating True" : ""].filter(Boolean).join(", ");
  return `NodeGroup ${g.name}: ${g.upToDate}/${g.nodes} nodes up to date${flags ? `, ${flags}` : ""}${nodes ? `; lagging: ${nodes}, expected "${g.checksum}"` : ""}`;
}

export interface NodeGroupWaitOptions {
  scope: NodeGroupScope;
  before: NodeGroupsBefore;
  /** false when the checksums were read after the registry had already changed (a half-applied start). */
  requireChange: boolean;
  timeoutMs: number;
  pollMs: number;
  log: (line: string) => void;
  /** Shown in the timeout's line (e.g. "30 minutes (nodeGroupsTimeoutMinutes)"). */
  timeoutWords: string;
}

export type NodeGroupWaitResult = { skipped: string } | { groups: NodeGroupProgress[] };

/** Polls until every NodeGroup in scope has applied the switch; rejects with one line naming what lags. */
export async function waitForNodeGroups(kube: KubeClient, opts: NodeGroupWaitOptions): Promise<NodeGroupWaitResult> {
  if (opts.scope === "none") return { skipped: "waitNodeGroups is none" };
  const deadline = Date.now() + opts.timeoutMs;
  let said = "";
  let last: NodeGroupProgress[] = [];
  // bounded by the deadline and by a count (a poll of 0 ms would otherwise spin)
  let failures = 0;
  for (let round = 0; round < 1_000_000; round++) {
    let all: NodeGroupProgress[] | undefined;
    try {
      all = await nodeGroupProgress(kube, opts.before, opts.requireChange);
      failures = 0;
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      const message = err instanceof Error ? err.message : String(err);
      if (code === 401 || code === 403) {
        throw new Error(`images-copier: cannot read the NodeGroups, nodes or Secret ${CHECKSUMS_NAMESPACE}/${CHECKSUMS_SECRET} to wait for bashible: ${message} (grant list on nodegroups.deckhouse.io and nodes, get on that Secret, or set waitNodeGroups: none)`);
      }
      // transient (5xx, a dropped connection): bounded in count and by the deadline
      if (++failures > 10 || Date.now() >= deadline) throw new Error(`images-copier: cannot read the NodeGroups to wait for bashible: ${message} (${failures} attempts in a row failed; pulumi up waits again)`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(opts.pollMs, Math.max(deadline - Date.now(), 0))));
      continue;
    }
    if (!all) return { skipped: "the cluster has no NodeGroups (managed Kubernetes): bashible is not Deckhouse's there" };
    const groups = inScope(all, opts.scope);
    if (groups.length === 0) return { skipped: `the cluster has no NodeGroup ${MASTER_GROUP}` };
    last = groups;
    const line = `images-copier: bashible: ${groups.map(describeProgress).join("; ")}`;
    if (line !== said) opts.log(line);
    said = line;
    if (groups.every((g) => g.applied)) return { groups };
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(opts.pollMs, Math.max(deadline - Date.now(), 0))));
  }
  const lag = last.filter((g) => !g.applied).map(describeLag).join("; ");
  throw new Error(`images-copier: bashible has not applied the new registry within ${opts.timeoutWords}: ${lag} (journalctl -u bashible on those nodes; pulumi up waits again)`);
}
