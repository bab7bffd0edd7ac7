// Proof, before anything changes, that the cluster will admit the writes a stack is about to make: each is sent once
// as a server-side dry run (`?dryRun=All`: authorization and admission run, nothing is stored) through the same client
// and so as the same identity the real write uses (client.ts: Deckhouse's own objects as `kubeImpersonate`). Called
// from the gates, in `pulumi preview` and in `pulumi up` before the first change. A refusal (RBAC, Deckhouse's
// admission policy, a missing `impersonate` permission) becomes one line naming the object, the identity and the
// server's message, and what to do.
import { isKubeStatus, type KubeClient } from "./client";

export interface ProposedWrite {
  /** What a refusal names, e.g. `Secret d8-system/deckhouse-registry`. */
  object: string;
  verb: "create" | "patch" | "delete";
  path: string;
  body?: unknown;
  /** A patch's content type (default: JSON merge patch); `application/apply-patch+yaml` for Server-Side Apply. */
  contentType?: string;
  /** More query parameters of the write, e.g. an apply patch's `fieldManager` and `force`. */
  query?: Record<string, string>;
}

export interface ProvenWrite {
  object: string;
  verb: ProposedWrite["verb"];
  /** Who the cluster saw: the impersonated user, or the kubeconfig's user. */
  identity: string;
}

/** What a refusal of this write tells the operator to do. */
function remedy(kube: KubeClient, as: string | undefined, message: string): string {
  if (as && /\bimpersonate\b/i.test(message)) {
    return `grant the kubeconfig's user "${kube.user}" the verb impersonate on users "${as}" (cluster-admin has it), or set images-copier:kubeImpersonate to a user it may impersonate`;
  }
  if (!as && /heritage/i.test(message)) {
    return `Deckhouse admits writes of its own objects only from system:sudouser or a system account: set images-copier:kubeImpersonate to system:sudouser (the default) and grant "${kube.user}" impersonate on that user`;
  }
  return as
    ? `give "${as}" that permission, or set images-copier:kubeImpersonate to a user that has it ("" writes as the kubeconfig's user "${kube.user}")`
    : `give the kubeconfig's user "${kube.user}" that permission, or use a kubeconfig whose user has it`;
}

function describeIdentity(kube: KubeClient, as: string | undefined): string {
  return as ? `${as} (impersonated by the kubeconfig's user "${kube.user}")` : `the kubeconfig's user "${kube.user}"`;
}

/**
 * Sends every write as a dry run, in order; resolves to who each was proven as. A create of an object that already
 * exists (409) proves nothing and is not refused: the stack does not create it then. Rejects on the first refusal
 * with one line: `<refusing>: the cluster refuses to <verb> <object> as <identity>: <message> (<code>, server-side
 * dry run; nothing changed). To fix: <what to do>`.
 */
export async function proveWrites(kube: KubeClient, writes: ProposedWrite[], refusing: string): Promise<ProvenWrite[]> {
  const proven: ProvenWrite[] = [];
  for (const write of writes) {
    const as = await kube.writeAs(write.path, write.verb === "delete" ? undefined : write.body);
    const query = { ...write.query, dryRun: "All" };
    try {
      if (write.verb === "create") await kube.create(write.path, write.body, query);
      else if (write.verb === "patch") await kube.patch(write.path, write.body, write.contentType, query);
      else await kube.delete(write.path, query);
    } catch (error) {
      if (write.verb === "create" && isKubeStatus(error, 409)) continue;
      const e = error as { name?: string; statusCode?: number; reason?: string; message?: string };
      if (e?.name !== "KubeApiError") throw error;
      const message = (e.reason ?? "").replace(/\s+/g, " ").trim();
      throw new Error(
        `${refusing}: the cluster refuses to ${write.verb} ${write.object} as ${describeIdentity(kube, as)}: ${message} (${e.statusCode}, server-side dry run; nothing changed). To fix: ${remedy(kube, as, message)}`,
      );
    }
    proven.push({ object: write.object, verb: write.verb, identity: as ?? `kubeconfig user ${kube.user}` });
  }
  return proven;
}

/** `images-copier: proven by server-side dry runs: patch Secret d8-system/deckhouse-registry as system:sudouser, …`. */
export function describeProven(proven: ProvenWrite[]): string {
  return `images-copier: the cluster admits every write (server-side dry runs): ${proven.map((p) => `${p.verb} ${p.object} as ${p.identity}`).join("; ")}`;
}
