// A simulated registry module orchestrator (deckhouse/deckhouse modules/038-registry/hooks/orchestrator/), played by
// the test as it plays the kubelet: NOT Deckhouse, just the behaviour the switch relies on, on the Kubernetes API
// test server's objects.
// - On a change of ModuleConfig `deckhouse` `spec.settings.registry` it sets Secret d8-system/registry-state's
//   `target_mode`, clears the conditions to RegistryContainsRequiredImages False ("Initializing") and Ready False,
//   then checks the new `imagesRepo` holds the Deckhouse image under the Deployment's current tag: a HEAD of the
//   manifest on the real test registry with the section's own credentials. Missing (or refused): the condition
//   stays False with the reason, Ready False, and nothing else changes.
// - When present: TransitionContainerdConfigReady, then Secret deckhouse-registry rewritten (Unmanaged: the new
//   repository and credentials; Direct/Proxy: the in-cluster address with the upstream credentials), the
//   Deployment's images re-pointed to the new repository keeping tag or digest (Unmanaged; Direct/Proxy keep the
//   in-cluster address), DeckhouseRegistrySwitchReady, FinalContainerdConfigReady, then `mode` = `target_mode` and
//   Ready "True" (each step a separate write, as the real one advances a step per run).
// - A change of Secret deckhouse-registry by anyone else while a configurable mode is active is reverted.
// The vendor's registry (registry.deckhouse.io, unreachable from tests) is taken to hold every release; any other
// repository is checked for real.
import { createHash } from "node:crypto";
import type { KubeApiServer, KubeObject } from "./kube-api-server";
import { FixtureClient } from "./registry-http";
import type { TestRegistry } from "./registry";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
const IN_CLUSTER = "registry.d8-system.svc:5001";
const IN_CLUSTER_REPO = `${IN_CLUSTER}/system/deckhouse`;
const SECTION: Record<string, string> = { Unmanaged: "unmanaged", Direct: "direct", Proxy: "proxy" };

interface Section {
  imagesRepo?: string;
  scheme?: string;
  ca?: string;
  license?: string;
  username?: string;
  password?: string;
}

interface Condition {
  type: string;
  status: "True" | "False";
  reason?: string;
  message?: string;
}

export interface RegistryOrchestrator {
  /** Every registry section it finished switching to, in order: `<mode> <imagesRepo>`. */
  switches: string[];
  /** Direct changes of deckhouse-registry it put back. */
  reverts: number;
  /** Resolves once the orchestrator has nothing in flight. */
  idle(): Promise<void>;
  stop(): void;
}

/** The registry-state Secret as the module keeps it (keys of templates/orchestrator/state-secret.yaml). */
export function registryStateSecret(mode: string, targetMode: string, conditions: Condition[], hash: string): KubeObject {
  const yaml = (list: Condition[]) =>
    list.map((c) => `- type: ${c.type}\n  status: "${c.status}"${c.reason ? `\n  reason: ${c.reason}` : ""}${c.message ? `\n  message: ${JSON.stringify(c.message)}` : ""}`).join("\n");
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "registry/state",
    metadata: { name: "registry-state", namespace: "d8-system", labels: { heritage: "deckhouse", module: "registry", app: "registry", type: "registry-state" } },
    data: { mode: b64(mode), target_mode: b64(targetMode), conditions: b64(yaml(conditions)), hash: b64(hash), state: b64(`mode: ${mode}\ntarget_mode: ${targetMode}\n`) },
  } as KubeObject;
}

/** `registry`: the test registry it can reach (none: only the vendor's hosts hold anything). */
export function startRegistryOrchestrator(kube: KubeApiServer, opts: { registry?: TestRegistry; vendorHosts?: string[] }): RegistryOrchestrator {
  const vendor = opts.vendorHosts ?? ["registry.deckhouse.io"];
  const result: RegistryOrchestrator = { switches: [], reverts: 0, idle: async () => {}, stop: () => {} };
  let writing = false;
  let inFlight: Promise<void> = Promise.resolve();
  let generation = 0;
  /** deckhouse-registry as this orchestrator last wrote it (what it defends). */
  let owned: Record<string, string> | undefined;

  const write = (object: KubeObject) => {
    writing = true;
    try {
      kube.put(object);
    } finally {
      writing = false;
    }
  };
  const settingsOf = (mc: KubeObject | undefined) => ((mc?.spec as { settings?: { registry?: Record<string, unknown> } })?.settings?.registry ?? {}) as Record<string, unknown>;
  const modeOf = (registry: Record<string, unknown>) => (typeof registry.mode === "string" ? registry.mode : "Unmanaged");
  const currentState = () => {
    const data = (kube.get("v1", "Secret", "d8-system", "registry-state")?.data ?? {}) as Record<string, string>;
    return { mode: data.mode ? unb64(data.mode) : "Unmanaged" };
  };
  const setState = (mode: string, target: string, conditions: Condition[], hash: string) => write(registryStateSecret(mode, target, conditions, hash));

  async function holdsImage(section: Section, tag: string): Promise<string | undefined> {
    const repo = section.imagesRepo ?? "";
    const host = repo.split("/")[0];
    if (vendor.includes(host)) return undefined;
    if (!opts.registry || host !== opts.registry.host) return `${repo}: registry ${host} is not reachable`;
    const repository = repo.slice(host.length + 1);
    const username = section.license ? "license-token" : section.username;
    const password = section.license ?? section.password;
    try {
      const client = new FixtureClient({ ...opts.registry, username, password });
      const accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json";
      const res = await client.send("HEAD", repository, `/v2/${repository}/manifests/${tag}`, { headers: { accept } });
      return res.status === 200 ? undefined : `${repo}:${tag}: HTTP ${res.status}`;
    } catch (error) {
      return `${repo}:${tag}: ${(error as Error).message}`;
    }
  }

  function rewriteRegistrySecret(mode: string, section: Section): void {
    const secret = kube.get("v1", "Secret", "d8-system", "deckhouse-registry");
    if (!secret) return;
    const repo = section.imagesRepo as string;
    const [host, ...path] = (mode === "Unmanaged" ? repo : IN_CLUSTER_REPO).split("/");
    const username = section.license ? "license-token" : (section.username ?? "");
    const password = section.license ?? section.password ?? "";
    const dockerconfig = JSON.stringify({ auths: { [host]: { username, password, auth: b64(`${username}:${password}`) } } });
    const data: Record<string, string> = {
      ...(secret.data as Record<string, string>),
      ".dockerconfigjson": b64(dockerconfig),
      address: b64(host),
      path: b64(`/${path.join("/")}`),
      scheme: b64((section.scheme ?? "HTTPS").toLowerCase()),
      ...(section.ca || (secret.data as Record<string, string>).ca !== undefined ? { ca: b64(section.ca ?? "") } : {}),
    };
    owned = data;
    write({ ...secret, data });
  }

  function repointDeployment(fromRepo: string, toRepo: string): void {
    const deployment = kube.get("apps/v1", "Deployment", "d8-system", "deckhouse");
    if (!deployment || fromRepo === toRepo) return;
    const move = (c: { image: string }) => (c.image.startsWith(`${fromRepo}:`) || c.image.startsWith(`${fromRepo}@`) ? { ...c, image: `${toRepo}${c.image.slice(fromRepo.length)}` } : c);
    const spec = (deployment.spec as { template: { spec: { containers: Array<{ image: string }>; initContainers?: Array<{ image: string }> } } }).template.spec;
    spec.containers = spec.containers.map(move);
    if (spec.initContainers) spec.initContainers = spec.initContainers.map(move);
    write(deployment);
  }

  async function apply(registry: Record<string, unknown>, previousRepo: string): Promise<void> {
    const mode = modeOf(registry);
    const section = (registry[SECTION[mode] ?? ""] ?? {}) as Section;
    const from = currentState().mode;
    const hash = createHash("sha256").update(JSON.stringify(registry)).update(String(++generation)).digest("hex");
    if (!section.imagesRepo) return; // the legacy mode: nothing to switch
    const conditions: Condition[] = [
      { type: "RegistryContainsRequiredImages", status: "False", reason: "Processing", message: "Initializing" },
      { type: "Ready", status: "False", reason: "Processing", message: `Transitioning to ${mode}` },
    ];
    setState(from, mode, conditions, hash);
    const deployment = kube.get("apps/v1", "Deployment", "d8-system", "deckhouse");
    const image = (deployment?.spec as { template: { spec: { containers: Array<{ name: string; image: string }> } } }).template.spec.containers.find((c) => c.name === "deckhouse")?.image ?? "";
    const tag = image.match(/:([^:/@]+)$/)?.[1] ?? "latest";
    const missing = await holdsImage(section, tag);
    if (missing) {
      conditions[0] = { type: "RegistryContainsRequiredImages", status: "False", reason: "Processing", message: `1 of 1 images are missing: ${missing}` };
      setState(from, mode, conditions, hash);
      return;
    }
    conditions[0] = { type: "RegistryContainsRequiredImages", status: "True", reason: "Ready" };
    conditions.splice(1, 0, { type: "TransitionContainerdConfigReady", status: "True" });
    setState(from, mode, conditions, hash);
    rewriteRegistrySecret(mode, section);
    if (mode === "Unmanaged") repointDeployment(previousRepo, section.imagesRepo);
    conditions.splice(2, 0, { type: "DeckhouseRegistrySwitchReady", status: "True" }, { type: "FinalContainerdConfigReady", status: "True" });
    setState(from, mode, conditions, hash);
    conditions[conditions.length - 1] = { type: "Ready", status: "True" };
    setState(mode, mode, conditions, hash);
    result.switches.push(`${mode} ${section.imagesRepo}`);
  }

  /** The repository the Deckhouse images come from now: the live Secret's (Unmanaged re-points from it). */
  const liveRepo = () => {
    const data = (kube.get("v1", "Secret", "d8-system", "deckhouse-registry")?.data ?? {}) as Record<string, string>;
    return `${unb64(data.address ?? "")}/${unb64(data.path ?? "").replace(/^\/+/, "")}`;
  };

  const offConfig = kube.onUpdate("ModuleConfig", (object, previous) => {
    if (object.metadata.name !== "deckhouse") return;
    const now = settingsOf(object);
    if (JSON.stringify(now) === JSON.stringify(settingsOf(previous))) return;
    const repo = liveRepo();
    inFlight = inFlight.then(() => apply(now, repo));
  });
  const offSecret = kube.onUpdate("Secret", (object, previous) => {
    if (writing || object.metadata.name !== "deckhouse-registry" || object.metadata.namespace !== "d8-system") return;
    const registry = settingsOf(kube.get("deckhouse.io/v1alpha1", "ModuleConfig", "", "deckhouse"));
    if (!(registry[SECTION[modeOf(registry)] ?? ""] as Section | undefined)?.imagesRepo) return;
    const defended = owned ?? (previous.data as Record<string, string>);
    if (JSON.stringify(object.data) === JSON.stringify(defended)) return;
    result.reverts++;
    write({ ...object, data: defended });
  });
  result.idle = () => inFlight;
  result.stop = () => {
    offConfig();
    offSecret();
  };
  return result;
}
