// The switch stack: after a verified copy, points Deckhouse at the customer's registry.
// Order: gate (copy stack + image existence, at preview too) -> snapshot of the old values -> Secret patch ->
// Deployment patch -> rollout wait and old-registry pod listing. Destroying the stack restores the snapshot.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { formatReference, formatRepository, parseTaggedReference, proxySettingsFromEnv } from "../../copier";
import type { SwitchStageConfig } from "../../stack-config";
import type { KubeAccess } from "../kube";
import { requireVerifiedCopy, type CopyOutcome } from "./copy-check";
import { deploymentImages, oldRepository, planImageChanges, referencesToCheck, repositoryFromSecret, type ImageChange } from "./images";
import { requireImagesExist, type ImageChecker } from "./preflight";
import { decodeBase64, dockerConfigJson, encodeBase64, registrySecretValues, secretKeyChanges, type KeyChange } from "./registry-secret";
import { captureImages, captureSecret, DECKHOUSE_DEPLOYMENT, DECKHOUSE_NAMESPACE, REGISTRY_SECRET } from "./rollback";
import { FOLLOW_UP_STEPS } from "./rollout";
import { DeckhouseRollout } from "./rollout-provider";
import { SwitchSnapshot } from "./snapshot-provider";

/** Field manager of the switch's Server-Side Apply patches (visible in the objects' managedFields). */
export const SWITCH_FIELD_MANAGER = "images-copier-switch";

export interface SwitchStageDeps {
  /** Registry existence check; defaults to the copier's checkImagesExist. */
  checkImages?: ImageChecker;
  /** Cluster access for the dynamic resources; defaults to `kubernetes:kubeconfig` / `kubernetes:context`. */
  kube?: KubeAccess;
  rolloutTimeoutSeconds?: number;
}

/** What the preview shows and the Patch resources apply: nothing secret in here. */
interface SwitchPlan {
  copy: CopyOutcome;
  /** `targetImage` as written everywhere (normalized: no surrounding spaces). */
  targetImage: string;
  imageChanges: ImageChange[];
  secretKeys: Record<string, KeyChange>;
  /** Plain values of the non-credential keys the Secret patch writes. */
  plainValues: Record<string, string>;
  writtenKeys: string[];
  oldRegistry: string;
}

const PATCH_ANNOTATIONS = {
  "pulumi.com/patchForce": "true",
  "pulumi.com/patchFieldManager": SWITCH_FIELD_MANAGER,
};

function defaultKubeAccess(): KubeAccess {
  const config = new pulumi.Config("kubernetes");
  return { kubeconfig: config.get("kubeconfig") || undefined, context: config.get("context") || undefined };
}

interface GateResult {
  ok: boolean;
  plan?: SwitchPlan;
  message?: string;
}

export class SwitchStage extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Input<unknown>>;
  /** Resolves once the gate passed; rejects with the one-line reason when the switch is refused. */
  readonly gatePassed: Promise<void>;

  constructor(name: string, config: SwitchStageConfig, opts?: pulumi.ComponentResourceOptions, deps: SwitchStageDeps = {}) {
    super("images-copier:index:SwitchStage", name, {}, opts);
    const parent = { parent: this };
    const password = pulumi.secret(config.targetPassword);

    const copyStack = new pulumi.StackReference(`${name}-copy-stack`, { name: config.copyStack }, parent);
    const current = k8s.apps.v1.Deployment.get(`${name}-deckhouse-before`, `${DECKHOUSE_NAMESPACE}/${DECKHOUSE_DEPLOYMENT}`, parent);
    const currentSecret = k8s.core.v1.Secret.get(`${name}-deckhouse-registry-before`, `${DECKHOUSE_NAMESPACE}/${REGISTRY_SECRET}`, parent);

    // The gate runs while the program runs, so `pulumi preview` already refuses. It reads secrets (the password
    // for the registry check, the Secret's data for its keys) but returns only what is safe to show.
    const gate = pulumi.unsecret(
      pulumi.all([copyStack.getOutput("copy"), current.spec, currentSecret.data, password]).apply(async ([copy, spec, data, pass]): Promise<GateResult> => {
        try {
          return { ok: true, plan: await planSwitch(config, copy, spec, (data ?? {}) as Record<string, string>, pass, deps.checkImages) };
        } catch (err) {
          return { ok: false, message: err instanceof Error ? err.message : String(err) };
        }
      }),
    );

    // Nothing is declared unless the gate passed. A refusal rejects `gatePassed` with a RunError and nothing else:
    // Pulumi reports that one unhandled RunError as a single clean message and fails the preview/update, so no
    // resource of this stack is created, changed or deleted.
    let settle!: { resolve: () => void; reject: (err: Error) => void };
    this.gatePassed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const switched = gate.apply((result) => {
      if (!result.ok || !result.plan) {
        settle.reject(new pulumi.RunError(result.message ?? "images-copier: refusing to switch"));
        return undefined;
      }
      settle.resolve();
      return this.declareSwitch(name, config, result.plan, { password, current, currentSecret, deps });
    });
    const plan = switched.apply((s) => s?.plan);

    this.outputs = {
      targetImage: config.targetImage,
      copy: plan.apply((p) => p?.copy),
      deckhouseImage: plan.apply((p) => {
        const change = p?.imageChanges.find((c) => c.kind === "container" && c.name === "deckhouse");
        return change && { from: change.from, to: change.to };
      }),
      imageChanges: plan.apply((p) => p?.imageChanges),
      secretKeys: plan.apply((p) => p?.secretKeys),
      oldRegistry: switched.apply((s) => s?.oldRegistry),
      rolloutReady: switched.apply((s) => s?.rolloutReady),
      oldRegistryPods: switched.apply((s) => s?.oldRegistryPods),
      rollbackCapturedAt: switched.apply((s) => s?.rollbackCapturedAt),
      rollbackDeckhouseImage: switched.apply((s) => s?.rollbackDeckhouseImage),
      followUp: [...FOLLOW_UP_STEPS],
      rollback: "`pulumi destroy` on this stack restores the Deckhouse images and the deckhouse-registry keys captured at switch time (see rollbackCapturedAt).",
    };
    this.registerOutputs(this.outputs);
  }

  private declareSwitch(
    name: string,
    config: SwitchStageConfig,
    plan: SwitchPlan,
    from: { password: pulumi.Output<string>; current: k8s.apps.v1.Deployment; currentSecret: k8s.core.v1.Secret; deps: SwitchStageDeps },
  ) {
    const parent = { parent: this };
    const kube = pulumi.secret(from.deps.kube ?? defaultKubeAccess());
    const timeoutSeconds = from.deps.rolloutTimeoutSeconds ?? 900;

    // Captured from the objects as read before the patches; created first, so on destroy it is deleted last.
    const snapshot = new SwitchSnapshot(
      `${name}-rollback`,
      {
        kube,
        images: from.current.spec.apply((spec) => captureImages(deploymentImages({ spec }))),
        secret: pulumi.secret(from.currentSecret.data.apply((data) => captureSecret((data ?? {}) as Record<string, string>, plan.writtenKeys))),
        oldRegistry: plan.oldRegistry,
        rolloutTimeoutSeconds: timeoutSeconds,
      },
      parent,
    );

    // The Kubernetes provider marks a Secret's whole `data` secret, so the preview masks it; the `secretKeys`
    // output names the keys that change.
    const data: Record<string, pulumi.Input<string>> = {
      ".dockerconfigjson": from.password.apply((pass) => encodeBase64(dockerConfigJson(plan.plainValues.address, config.targetUsername, pass))),
    };
    for (const [key, value] of Object.entries(plan.plainValues)) data[key] = encodeBase64(value);
    const secretPatch = new k8s.core.v1.SecretPatch(
      `${name}-deckhouse-registry`,
      { metadata: { name: REGISTRY_SECRET, namespace: DECKHOUSE_NAMESPACE, annotations: PATCH_ANNOTATIONS }, data },
      { ...parent, retainOnDelete: true, dependsOn: [snapshot] },
    );

    const containers = (kind: ImageChange["kind"]) => plan.imageChanges.filter((c) => c.kind === kind).map((c) => ({ name: c.name, image: c.to }));
    const initContainers = containers("initContainer");
    const deploymentPatch = new k8s.apps.v1.DeploymentPatch(
      `${name}-deckhouse`,
      {
        metadata: { name: DECKHOUSE_DEPLOYMENT, namespace: DECKHOUSE_NAMESPACE, annotations: { ...PATCH_ANNOTATIONS, "pulumi.com/skipAwait": "true" } },
        spec: { template: { spec: { ...(initContainers.length > 0 ? { initContainers } : {}), containers: containers("container") } } },
      },
      // The Secret goes first: the new Deckhouse pod pulls from the new registry with the new credentials.
      { ...parent, retainOnDelete: true, dependsOn: [snapshot, secretPatch] },
    );

    const rollout = new DeckhouseRollout(
      `${name}-rollout`,
      {
        kube,
        namespace: DECKHOUSE_NAMESPACE,
        name: DECKHOUSE_DEPLOYMENT,
        expectedImage: plan.targetImage,
        oldRegistry: snapshot.oldRegistry,
        timeoutSeconds,
      },
      { ...parent, dependsOn: [deploymentPatch] },
    );

    return {
      plan,
      oldRegistry: snapshot.oldRegistry,
      rolloutReady: rollout.ready,
      oldRegistryPods: rollout.oldRegistryPods,
      rollbackCapturedAt: snapshot.capturedAt,
      rollbackDeckhouseImage: snapshot.images.apply((i) => i.containers.find((c) => c.name === "deckhouse")?.image),
    };
  }
}

/** The gate: the copy stack's verdict, the new images (each must exist in the target), the Secret's new keys. */
async function planSwitch(config: SwitchStageConfig, copy: unknown, spec: unknown, currentData: Record<string, string>, password: string, checker?: ImageChecker): Promise<SwitchPlan> {
  const outcome = requireVerifiedCopy(copy, config.targetImage, config.copyStack);
  const decode = (key: string) => (typeof currentData[key] === "string" ? decodeBase64(currentData[key]) : "");
  const images = deploymentImages({ spec }, `Deployment ${DECKHOUSE_NAMESPACE}/${DECKHOUSE_DEPLOYMENT}`);
  const old = oldRepository(images, repositoryFromSecret(decode("address"), decode("path")));
  const targetImage = formatReference(parseTaggedReference(config.targetImage, "targetImage"));
  const imageChanges = planImageChanges(images, targetImage, old);
  const access = { username: config.targetUsername, password, insecure: config.targetInsecure, ca: config.targetCA, proxy: proxySettingsFromEnv() };
  await requireImagesExist(referencesToCheck(imageChanges), access, checker);

  const target = { image: targetImage, username: config.targetUsername, password, insecure: config.targetInsecure, ca: config.targetCA };
  const values = registrySecretValues(target, Object.keys(currentData));
  const { [".dockerconfigjson"]: dockerConfig, ...plain } = values;
  const plainValues = plain as Record<string, string>;
  // `.dockerconfigjson` is compared here and only its verdict leaves this function.
  const secretKeys: Record<string, KeyChange> = { ...secretKeyChanges({ ".dockerconfigjson": dockerConfig as string }, currentData), ...secretKeyChanges(plainValues, currentData) };
  return { copy: outcome, targetImage, imageChanges, secretKeys, plainValues, writtenKeys: Object.keys(values), oldRegistry: formatRepository(old) };
}
