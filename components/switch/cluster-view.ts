// What the switch reads from the cluster while the program runs (preview and update alike), through the
// project's Kubernetes client rather than `.get()` resources: a read resource would store the whole Deployment
// in the state, proxy URLs with passwords in its env included. Only what the switch needs leaves this module;
// the Secret's data and the proxy variables travel on only as Pulumi secrets.
import { readClusterModules, type ClusterModules } from "../copy/modules-read";
import type { V1EnvVar } from "@kubernetes/client-node";
import { z } from "zod";
import { isProxyVariable } from "../copier-job/proxy-env";
import { apiPath, type KubeClient } from "../kube";
import { deploymentImages, DECKHOUSE_CONTAINER, type PodTemplateImages } from "./images";
import type { RunningDeckhouse } from "./release";
import { DECKHOUSE_DEPLOYMENT, DECKHOUSE_NAMESPACE, REGISTRY_SECRET } from "./rollback";
import { readNodeGroupsBefore, type NodeGroupsBefore } from "./node-groups";
import { readReleaseChannel, type ReleaseChannelSetting } from "./updates";

/** A proxy variable as the Deployment has it: a literal value or a reference (valueFrom). */
export type ProxyVariable = V1EnvVar;

export interface ClusterView {
  images: PodTemplateImages;
  /** The deckhouse container's image in the Deployment now. */
  deckhouseImage: string;
  /** Each pod of the Deployment and the imageID its deckhouse container reports. */
  pods: RunningDeckhouse[];
  /** base64 data of `d8-system/deckhouse-registry` (credentials: pass on only as a Pulumi secret). */
  registrySecret: Record<string, string>;
  /** HTTP_PROXY / HTTPS_PROXY / NO_PROXY of the deckhouse container (may hold passwords: secret). */
  proxyEnv: ProxyVariable[];
  releaseChannel: ReleaseChannelSetting;
  /** Deckhouse's Deployed modules and operator-trivy (../copy/modules-read.ts), for the groups gate. */
  modules?: ClusterModules;
  /** The NodeGroups' bashible checksums before the switch (what BashibleApplied waits to see change). */
  nodeGroups: NodeGroupsBefore;
}

const deploymentSchema = z.object({
  spec: z.object({
    selector: z.object({ matchLabels: z.record(z.string(), z.string()).optional() }).optional(),
    template: z.object({
      spec: z.object({
        containers: z.array(z.object({ name: z.string(), env: z.array(z.object({ name: z.string(), value: z.string().optional(), valueFrom: z.unknown().optional() })).optional() })),
      }),
    }),
  }),
});

const podListSchema = z.array(
  z.object({
    metadata: z.object({ name: z.string() }),
    status: z.object({ containerStatuses: z.array(z.object({ name: z.string(), imageID: z.string().optional() })).optional() }).optional(),
  }),
);

const secretSchema = z.object({ data: z.record(z.string(), z.string()).optional() });

export class ClusterReadError extends Error {
  override name = "ClusterReadError";
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ClusterReadError(`images-copier: ${what} is not shaped as expected (${issue.path.join(".")}: ${issue.message})`);
}

export async function readClusterView(kube: KubeClient): Promise<ClusterView> {
  const where = `Deployment ${DECKHOUSE_NAMESPACE}/${DECKHOUSE_DEPLOYMENT}`;
  const deployment = await kube.get(apiPath({ apiVersion: "apps/v1", resource: "deployments", namespace: DECKHOUSE_NAMESPACE, name: DECKHOUSE_DEPLOYMENT }));
  if (!deployment) throw new ClusterReadError(`images-copier: refusing to switch: ${where} does not exist; is this a Deckhouse cluster (kubernetes:context)?`);
  const images = deploymentImages(deployment, where);
  const shaped = parse(deploymentSchema, deployment, where);
  const deckhouse = shaped.spec.template.spec.containers.find((c) => c.name === DECKHOUSE_CONTAINER);
  const deckhouseImage = images.containers.find((c) => c.name === DECKHOUSE_CONTAINER)?.image;
  if (!deckhouse || !deckhouseImage) throw new ClusterReadError(`images-copier: refusing to switch: ${where} has no container named "${DECKHOUSE_CONTAINER}"`);
  const proxyEnv = (deckhouse.env ?? []).filter((e) => isProxyVariable(e.name)).map((e) => ({ ...e }) as ProxyVariable);

  const labels = shaped.spec.selector?.matchLabels ?? {};
  const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
  const podList = selector ? (await kube.list(apiPath({ apiVersion: "v1", resource: "pods", namespace: DECKHOUSE_NAMESPACE }), { labelSelector: selector })).items : [];
  const pods = parse(podListSchema, podList, `the pods of ${where}`).map((pod) => ({
    pod: pod.metadata.name,
    imageID: pod.status?.containerStatuses?.find((s) => s.name === DECKHOUSE_CONTAINER)?.imageID || undefined,
  }));

  const secret = await kube.get(apiPath({ apiVersion: "v1", resource: "secrets", namespace: DECKHOUSE_NAMESPACE, name: REGISTRY_SECRET }));
  if (!secret) throw new ClusterReadError(`images-copier: refusing to switch: Secret ${DECKHOUSE_NAMESPACE}/${REGISTRY_SECRET} does not exist`);
  const registrySecret = parse(secretSchema, secret, `Secret ${DECKHOUSE_NAMESPACE}/${REGISTRY_SECRET}`).data ?? {};

  return { images, deckhouseImage, pods, registrySecret, proxyEnv, releaseChannel: await readReleaseChannel(kube), modules: await readClusterModules(kube), nodeGroups: await readNodeGroupsBefore(kube) };
}
