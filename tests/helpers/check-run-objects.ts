// The Kubernetes provider's and CopierBundle's part in the switch's check-Job tests: creates the check's Secret,
// the copier's ConfigMap and the pull Secret through the API (as `pulumi up` does before ClusterCheck runs), built
// by the program's own builders (check-job.ts, ../copier-job/), and returns the inputs ClusterCheck gets for them.
import { createHash } from "node:crypto";
import type { V1EnvVar } from "@kubernetes/client-node";
import { BUNDLE_KEY } from "../../components/copier-job/pod";
import { PULL_SECRET_TYPE } from "../../components/copier-job/pull-secret";
import { runObjectMetadata, withRunObjects } from "../../components/copier-job/run-objects";
import { apiPath, connectKube } from "../../components/kube";
import { buildCheckRun, CHECK_LABELS, CHECK_PULL_SECRET_NAME, CHECK_SECRET_NAME, type CheckRunSpec } from "../../components/switch/check-job";
import type { CheckObject, ClusterCheckInputs } from "../../components/switch/cluster-check-provider";
import type { RegistryExpectations } from "../../components/switch/registry-checks";

export interface CheckObjectsSpec {
  expectations: RegistryExpectations;
  target: CheckRunSpec["target"];
  /** The bundled copier's text; null: the copier image brings its own. */
  copierBundle: string | null;
  copierImage?: string;
  /** The copier image is pulled from the target registry with the check's pull Secret. */
  pullFromTarget?: boolean;
  proxyEnv?: V1EnvVar[];
  timeoutSeconds?: number;
  /** jobNodeSelector, jobTolerations, jobPriorityClassName as the stage passes them. */
  placement?: CheckRunSpec["placement"];
  unschedulableMinutes?: number;
}

const NAMESPACE = "d8-system";

export async function applyCheckObjects(kubeconfigYaml: string, spec: CheckObjectsSpec): Promise<ClusterCheckInputs> {
  const run = buildCheckRun({
    namespace: NAMESPACE,
    expectations: spec.expectations,
    copierImage: spec.copierImage ?? "node:20-bookworm-slim",
    pullFromTarget: spec.pullFromTarget ?? false,
    bundleSha256: spec.copierBundle === null ? undefined : createHash("sha256").update(spec.copierBundle).digest("hex"),
    target: spec.target,
    proxyEnv: spec.proxyEnv ?? [],
    timeoutSeconds: spec.timeoutSeconds ?? 60,
    placement: spec.placement,
  });
  const kube = await connectKube({ kubeconfig: kubeconfigYaml });
  try {
    type Created = { metadata: { uid: string } };
    const create = async (resource: "secrets" | "configmaps", body: Record<string, unknown>) =>
      (await kube.create<Created>(apiPath({ apiVersion: "v1", resource, namespace: NAMESPACE }), { apiVersion: "v1", ...body })).metadata.uid;
    const metadata = (name: string) => runObjectMetadata(name, NAMESPACE, CHECK_LABELS, { key: run.runKey });
    const objects: CheckObject[] = [];
    const secretUid = await create("secrets", { kind: "Secret", metadata: metadata(CHECK_SECRET_NAME), type: "Opaque", immutable: true, data: run.secretData });
    objects.push({ resource: "secrets", name: CHECK_SECRET_NAME, uid: secretUid });
    let bundleUid: string | undefined;
    if (run.bundleConfigMap && spec.copierBundle !== null) {
      bundleUid = await create("configmaps", { kind: "ConfigMap", metadata: metadata(run.bundleConfigMap), immutable: true, data: { [BUNDLE_KEY]: spec.copierBundle } });
      objects.push({ resource: "configmaps", name: run.bundleConfigMap, uid: bundleUid });
    }
    let pullSecretUid: string | undefined;
    if (run.pullSecretData) {
      pullSecretUid = await create("secrets", { kind: "Secret", metadata: metadata(CHECK_PULL_SECRET_NAME), type: PULL_SECRET_TYPE, immutable: true, data: run.pullSecretData });
      objects.push({ resource: "secrets", name: CHECK_PULL_SECRET_NAME, uid: pullSecretUid });
    }
    return {
      namespace: NAMESPACE,
      expectations: spec.expectations,
      job: withRunObjects(run.job, { runKey: run.runKey, secretUid, bundleUid, pullSecretUid }),
      objects,
      timeoutSeconds: spec.timeoutSeconds ?? 60,
      description: "checked in the cluster",
      ...(spec.unschedulableMinutes !== undefined ? { unschedulableMinutes: spec.unschedulableMinutes } : {}),
    };
  } finally {
    await kube.close();
  }
}
