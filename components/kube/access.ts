// Turns the standard Kubernetes settings into a resolved connection: server URL, TLS material and auth headers.
// @kubernetes/client-node's KubeConfig does the kubeconfig parsing and runs exec plugins / token files for us.
import type { KubeConfig } from "@kubernetes/client-node";

/** How to reach the cluster, the same way the Kubernetes provider does. */
export interface KubeAccess {
  /** `kubernetes:kubeconfig`: the kubeconfig's YAML/JSON contents or a path to it. */
  kubeconfig?: string;
  /** `kubernetes:context`: the context to use instead of the kubeconfig's current one. */
  context?: string;
  /**
   * `images-copier:kubeImpersonate`: the user that creates, updates, patches and deletes objects labelled
   * `heritage: deckhouse` (sent as `Impersonate-User`); reads and every other write stay the kubeconfig's user.
   * Undefined or "": no impersonation.
   */
  impersonate?: string;
}

/** Deckhouse (v1.62+) admits writes of its `heritage: deckhouse` objects from this user; its docs use `--as` it. */
export const DEFAULT_KUBE_IMPERSONATE = "system:sudouser";

/** The stack's `kubeImpersonate`: unset means the default, "" turns impersonation off. */
export function kubeImpersonateSetting(value: string | undefined): string | undefined {
  const user = value === undefined ? DEFAULT_KUBE_IMPERSONATE : value.trim();
  return user === "" ? undefined : user;
}

export interface ResolvedAccess {
  server: string;
  /** The kubeconfig's name of the current context's user (what a refusal names). */
  user: string;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; servername?: string };
  /** Fresh auth headers for one request (exec plugins and expiring tokens are re-evaluated each time). */
  headers(): Promise<Record<string, string>>;
}

/** Reads `kubernetes:kubeconfig` / `kubernetes:context` and `images-copier:kubeImpersonate` from the dynamic
 *  provider's config (the whole stack config, namespaced keys). */
export function kubeAccessFromConfig(config: { get(key: string): string | undefined }): KubeAccess {
  const impersonate = kubeImpersonateSetting(config.get("images-copier:kubeImpersonate"));
  return { kubeconfig: config.get("kubernetes:kubeconfig") || undefined, context: config.get("kubernetes:context") || undefined, ...(impersonate ? { impersonate } : {}) };
}

/**
 * The part of a dynamic provider that holds its cluster access: the engine calls `configure` with the inputs of
 * the dynamic providers' default provider, i.e. the whole stack config: the current one in `pulumi up` (a rotated
 * token or a moved kubeconfig is used at once), but in `pulumi destroy`/`refresh` without `--run-program` the one
 * stored in the state with the last `up` (as a secret: pulumi/pulumi pkg/resource/deploy/target.go
 * GetPackageConfig, providers/registry.go). No resource's own inputs or outputs hold it. Spread it into the
 * provider object.
 */
export function configuredAccess(): { access: KubeAccess; configure(req: { config: { get(key: string): string | undefined } }): Promise<void> } {
  return {
    access: {},
    async configure(req) {
      this.access = kubeAccessFromConfig(req.config);
    },
  };
}

function looksLikeInlineConfig(value: string): boolean {
  return value.includes("\n") || value.trimStart().startsWith("{") || /^\s*apiVersion\s*:/.test(value);
}

export function loadKubeConfig(access: KubeAccess): KubeConfig {
  // Loaded here, not at module level, so a closure-serialized provider carries a plain require().
  const { KubeConfig } = require("@kubernetes/client-node") as typeof import("@kubernetes/client-node");
  const kc = new KubeConfig();
  const source = access.kubeconfig?.trim();
  if (source) {
    if (looksLikeInlineConfig(source)) kc.loadFromString(source);
    else kc.loadFromFile(source);
  } else {
    kc.loadFromDefault();
  }
  if (access.context) {
    if (!kc.getContextObject(access.context)) {
      throw new Error(`kubernetes context "${access.context}" is not in the kubeconfig (have: ${kc.getContexts().map((c) => c.name).join(", ") || "none"})`);
    }
    kc.setCurrentContext(access.context);
  }
  return kc;
}

export async function resolveAccess(access: KubeAccess): Promise<ResolvedAccess> {
  const kc = loadKubeConfig(access);
  const cluster = kc.getCurrentCluster();
  if (!cluster || !cluster.server) {
    throw new Error("no Kubernetes cluster configured: set kubernetes:kubeconfig, KUBECONFIG or ~/.kube/config");
  }
  if (!access.kubeconfig && !process.env.KUBECONFIG && cluster.server === "http://localhost:8080") {
    throw new Error("no kubeconfig found: set kubernetes:kubeconfig, KUBECONFIG or ~/.kube/config");
  }
  const probe: { ca?: Buffer; cert?: Buffer; key?: Buffer; headers: Record<string, string> } = { headers: {} };
  await kc.applyToHTTPSOptions(probe as never);
  const tls = {
    ca: probe.ca,
    cert: probe.cert,
    key: probe.key,
    rejectUnauthorized: !cluster.skipTLSVerify,
    servername: cluster.tlsServerName || undefined,
  };
  return {
    server: cluster.server.replace(/\/+$/, ""),
    user: kc.getCurrentUser()?.name ?? "(none)",
    tls,
    async headers() {
      const opts: { headers: Record<string, string>; auth?: string } = { headers: {} };
      await kc.applyToHTTPSOptions(opts as never);
      if (opts.auth && !opts.headers.Authorization) {
        opts.headers.Authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
      }
      return opts.headers;
    },
  };
}
