// The kubeconfig of an explicit `@pulumi/kubernetes` provider that writes Deckhouse's own objects: the stack's
// kubeconfig (kubernetes:kubeconfig / kubernetes:context / KUBECONFIG, as the program reads it) cut down to its
// current context, whose user gets `as: <kubeImpersonate>` (kubectl's --as: every request carries Impersonate-User).
// It holds the user's credentials (token files are read into it): callers keep it a Pulumi secret.
import { loadKubeConfig, type KubeAccess } from "./access";

interface ExportedKubeconfig {
  clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
  users: Array<{ name: string; user: Record<string, unknown> }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string } }>;
  "current-context": string;
  [key: string]: unknown;
}

/** client-node exports every field it knows, unset ones as null: leave those out. */
function withoutNulls<T extends Record<string, unknown>>(entry: T): T {
  return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== null && v !== undefined)) as T;
}

/** The current context's cluster and user only, the user impersonating `as`; JSON (a kubeconfig parser reads it). */
export function impersonatedKubeconfig(access: KubeAccess, as: string): string {
  const kc = loadKubeConfig(access);
  const exported = JSON.parse(kc.exportConfig()) as ExportedKubeconfig;
  const context = exported.contexts.find((c) => c.name === exported["current-context"]);
  if (!context) throw new Error("the kubeconfig has no current context: set kubernetes:context");
  const user = exported.users.find((u) => u.name === context.context.user);
  if (!user) throw new Error(`the kubeconfig's context "${context.name}" names user "${context.context.user}", which it does not define`);
  return JSON.stringify({
    ...exported,
    clusters: exported.clusters.filter((c) => c.name === context.context.cluster).map((c) => ({ ...c, cluster: withoutNulls(c.cluster) })),
    users: [{ name: user.name, user: { ...withoutNulls(user.user), as } }],
    contexts: [context],
  });
}
