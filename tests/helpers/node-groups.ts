// Deckhouse's node-manager as the API test server shows it: NodeGroups (deckhouse.io/v1, cluster-scoped), their
// nodes (label node.deckhouse.io/group, annotation node.deckhouse.io/configuration-checksum as bashible writes it),
// and the Secret d8-cloud-instance-manager/configuration-checksums. No controller runs: a test plays node-manager
// (re-rendering a group's checksum when the registry changes) and bashible (annotating a node once it applied it).
import type { KubeApiServer, KubeObject } from "./kube-api-server";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

export interface NodeGroupSpec {
  name: string;
  nodes: string[];
}

/** The NodeGroup's status as node-manager computes it from the nodes and the group's checksum. */
function nodeGroupObject(server: KubeApiServer, name: string, checksum: string): KubeObject {
  const members = server.list("v1", "Node", "").filter((n) => n.metadata.labels?.["node.deckhouse.io/group"] === name);
  const upToDate = members.filter((n) => (n.metadata.annotations as Record<string, string> | undefined)?.["node.deckhouse.io/configuration-checksum"] === checksum).length;
  const updating = upToDate < members.length;
  return {
    apiVersion: "deckhouse.io/v1",
    kind: "NodeGroup",
    metadata: { name },
    spec: { nodeType: name === "master" ? "CloudPermanent" : "CloudEphemeral" },
    status: {
      nodes: members.length,
      ready: members.length,
      upToDate,
      conditions: [
        { type: "Ready", status: "True" },
        { type: "Updating", status: updating ? "True" : "False" },
        { type: "WaitingForDisruptiveApproval", status: "False" },
        { type: "Error", status: "False", message: "" },
      ],
    },
  };
}

function checksums(server: KubeApiServer): Record<string, string> {
  const secret = server.get("v1", "Secret", "d8-cloud-instance-manager", "configuration-checksums") as { data?: Record<string, string> } | undefined;
  return Object.fromEntries(Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
}

/** Recomputes every NodeGroup's status (node-manager's status hook). */
export function refreshNodeGroups(server: KubeApiServer): void {
  const sums = checksums(server);
  for (const group of server.list("deckhouse.io/v1", "NodeGroup", "")) server.put(nodeGroupObject(server, group.metadata.name, sums[group.metadata.name] ?? ""));
}

/** NodeGroups whose nodes have all applied `checksum` (bashible in sync). */
export function seedNodeGroups(server: KubeApiServer, groups: NodeGroupSpec[], checksum: (group: string) => string): void {
  clearNodeGroups(server);
  for (const g of groups) {
    for (const node of g.nodes) {
      server.put({ apiVersion: "v1", kind: "Node", metadata: { name: node, labels: { "node.deckhouse.io/group": g.name }, annotations: { "node.deckhouse.io/configuration-checksum": checksum(g.name) } } });
    }
    server.put({ apiVersion: "deckhouse.io/v1", kind: "NodeGroup", metadata: { name: g.name } });
  }
  setChecksums(server, Object.fromEntries(groups.map((g) => [g.name, checksum(g.name)])));
}

/** node-manager re-rendered bashible: the groups' checksums in the Secret (status follows). */
export function setChecksums(server: KubeApiServer, sums: Record<string, string>): void {
  server.put({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "configuration-checksums", namespace: "d8-cloud-instance-manager" },
    data: Object.fromEntries(Object.entries({ ...checksums(server), ...sums }).map(([k, v]) => [k, b64(v)])),
  });
  refreshNodeGroups(server);
}

/** bashible on `node` applied its group's configuration `checksum` (status follows). */
export function bashibleApplied(server: KubeApiServer, node: string, checksum: string): void {
  const object = server.get("v1", "Node", "", node) as KubeObject;
  server.put({ ...object, metadata: { ...object.metadata, annotations: { ...(object.metadata.annotations as object), "node.deckhouse.io/configuration-checksum": checksum } } });
  refreshNodeGroups(server);
}

export function clearNodeGroups(server: KubeApiServer): void {
  for (const g of server.list("deckhouse.io/v1", "NodeGroup", "")) server.remove("deckhouse.io/v1", "NodeGroup", "", g.metadata.name);
  for (const n of server.list("v1", "Node", "")) server.remove("v1", "Node", "", n.metadata.name);
  server.remove("v1", "Secret", "d8-cloud-instance-manager", "configuration-checksums");
}
