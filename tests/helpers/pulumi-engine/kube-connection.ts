// The cluster connection of one Kubernetes provider configuration (a provider resource's inputs: `kubeconfig` as
// contents or a path, `context`, `namespace`), as pulumi-kubernetes builds it with client-go: the context's server and CA, its
// user's token or client certificate, and the user's `as:` / `as-groups:` sent as Impersonate-User /
// Impersonate-Group (client-go's rest.ImpersonationConfig). The program's own access code parses the kubeconfig
// (components/kube/access.ts); the impersonation fields, which @kubernetes/client-node drops, are read here.
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import type { Dispatcher } from "undici";
import { Agent, request } from "undici";
import { z } from "zod";
import { loadKubeConfig, resolveAccess } from "../../../components/kube/access";
import { stripSecrets, type PropertyMap } from "./property-values";

export interface KubeResponse {
  statusCode: number;
  body: unknown;
}

export interface KubeConnection {
  /** The default namespace for objects without one: the provider's `namespace`, else the context's, else `default`
   *  (pulumi-kubernetes v4.23.0 provider/pkg/provider/provider.go, Configure). */
  namespace: string;
  call(method: Dispatcher.HttpMethod, path: string, opts?: { query?: Record<string, string>; body?: unknown; contentType?: string }): Promise<KubeResponse>;
  close(): Promise<void>;
}

const kubeconfigShape = z.object({
  "current-context": z.string().optional(),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ user: z.string().optional(), namespace: z.string().optional() }).passthrough() })).optional(),
  users: z.array(z.object({ name: z.string(), user: z.object({ as: z.string().optional(), "as-groups": z.array(z.string()).optional() }).passthrough().nullable() })).optional(),
});

function rawKubeconfig(source: string): z.infer<typeof kubeconfigShape> {
  const text = source.includes("\n") || source.trimStart().startsWith("{") ? source : readFileSync(source, "utf8");
  return kubeconfigShape.parse(load(text));
}

/** Impersonation (`as:`, `as-groups:`) and default namespace of the kubeconfig's (or the given) context. */
function contextExtras(source: string, contextName: string | undefined): { user?: string; groups: string[]; namespace: string } {
  const raw = rawKubeconfig(source);
  const name = contextName || raw["current-context"];
  const context = raw.contexts?.find((c) => c.name === name)?.context;
  const user = raw.users?.find((u) => u.name === context?.user)?.user;
  return { ...(user?.as ? { user: user.as } : {}), groups: user?.["as-groups"] ?? [], namespace: context?.namespace || "default" };
}

export async function connectProviderConfig(inputs: PropertyMap): Promise<KubeConnection> {
  const plain = stripSecrets(inputs) as { kubeconfig?: string; context?: string; namespace?: string };
  const kubeconfig = typeof plain.kubeconfig === "string" && plain.kubeconfig.trim() ? plain.kubeconfig : undefined;
  if (!kubeconfig) throw new Error("the engine stand-in's Kubernetes provider needs a kubeconfig (kubernetes:kubeconfig or the provider's kubeconfig): the machine's own is never used");
  const context = typeof plain.context === "string" && plain.context ? plain.context : undefined;
  loadKubeConfig({ kubeconfig, context }); // fails in one line on an unknown context
  const resolved = await resolveAccess({ kubeconfig, context });
  const extras = contextExtras(kubeconfig, context);
  const agent = new Agent({ connect: { ca: resolved.tls.ca, cert: resolved.tls.cert, key: resolved.tls.key, rejectUnauthorized: resolved.tls.rejectUnauthorized, servername: resolved.tls.servername } });
  return {
    namespace: typeof plain.namespace === "string" && plain.namespace ? plain.namespace : extras.namespace,
    async call(method, path, opts = {}) {
      const query = opts.query && Object.keys(opts.query).length > 0 ? `?${new URLSearchParams(opts.query).toString()}` : "";
      const headers: Record<string, string | string[]> = { accept: "application/json", ...(await resolved.headers()) };
      if (extras.user) headers["Impersonate-User"] = extras.user;
      if (extras.groups.length > 0) headers["Impersonate-Group"] = extras.groups;
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers["content-type"] = opts.contentType ?? "application/json";
      }
      const res = await request(`${resolved.server}${path}${query}`, { method, headers, body, dispatcher: agent, headersTimeout: 60_000, bodyTimeout: 60_000 });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: kept as text
      }
      return { statusCode: res.statusCode, body: parsed };
    },
    close: () => agent.close(),
  };
}
