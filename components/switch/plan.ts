// The gate and the plan of a switch, computed while the program runs, in `pulumi preview` as in `pulumi up`:
// the copy record, the release running now, the target registry (unless the cluster checks it), then what the
// switch writes. Everything in the plan is derived from the stack config and the copy record, not from how far
// an earlier switch got, so the same plan comes out before, half-way through and after a switch.
import { formatReference, formatRepository, parseRepositoryName, parseTaggedReference, proxySettingsFromEnv, type RepositoryName } from "../../copier";
import type { SwitchStageConfig } from "../../stack-config";
import { describeRegistryPath, type RegistryPath } from "../registry-mode";
import type { ClusterView } from "./cluster-view";
import { requireSameRegistryPath, requireVerifiedCopy, SwitchRefusedError, type VerifiedCopy } from "./copy-check";
import { DECKHOUSE_CONTAINER, planImageChanges, referencesToCheck, type ImageChange, type PodTemplateImages } from "./images";
import { planModuleConfigPath, upstreamImage, type ModuleConfigPlan, type ModuleConfigSections } from "./paths/module-config";
import { checkRegistryHere, type RegistryChecker, type RegistryExpectations } from "./registry-checks";
import { registrySecretValues, secretPointsAt } from "./registry-secret";
import { requireCopiedRelease } from "./release";
import { moduleReferences, requireNeededGroups } from "./modules-check";
import { captureImages, captureSecret, type RollbackState } from "./rollback";
import { channelTag, type ChannelHome, type UpdatesMode } from "./updates";

export type CheckFrom = "local" | "cluster";

/** Nothing secret in here: it is shown by the preview and stored in plain text. */
export interface SwitchPlan {
  copyStack: string;
  record: VerifiedCopy;
  /** `targetImage` normalized. */
  targetImage: string;
  targetRegistry: string;
  targetRepository: string;
  sourceRepository: string;
  imageChanges: ImageChange[];
  /** Plain values of the Secret keys the switch writes besides `.dockerconfigjson`. */
  secretValues: Record<string, string>;
  /** Every key the Secret patch writes, `.dockerconfigjson` included. */
  secretKeys: string[];
  updates: { mode: UpdatesMode; home: ChannelHome; channel?: string };
  checks: { from: CheckFrom } & RegistryExpectations;
  /** The images `pulumi destroy` puts back; the Secret only when it still held the old registry when captured. */
  rollback: { images: RollbackState["deployment"]; secretRestorable: boolean };
  /** Which path the cluster's registry needs, in words (components/registry-mode.ts). */
  registryPath: string;
  /** Set when the registry module owns the registry: the ModuleConfig path replaces the legacy patches. */
  moduleConfig?: ModuleConfigPlan;
}

export interface Gate {
  plan: SwitchPlan;
  /** The deckhouse container's proxy variables, for the check Job (may hold passwords: a Pulumi secret). */
  proxyEnv: ClusterView["proxyEnv"];
  /** The Secret's current values of the keys the switch writes (credentials: a Pulumi secret from here on). */
  secretCapture: RollbackState["secret"];
  /** The ModuleConfig path's sections before the switch (credentials: a Pulumi secret from here on). */
  moduleSections?: ModuleConfigSections;
  /** The NodeGroups' checksums as the gate read them, before anything changed. */
  nodeGroupsBefore: ClusterView["nodeGroups"];
}

export interface GateInputs {
  config: SwitchStageConfig;
  /** The copy stack's `copy` output. */
  copy: unknown;
  view: ClusterView;
  /** Which path the cluster's registry needs (legacy when not given); the copy must have read the same. */
  registryPath?: RegistryPath;
  checker?: RegistryChecker;
}

/** The vendor's side of every container the switch owns: what a rollback puts back. */
function rollbackImages(changes: ImageChange[]): RollbackState["deployment"] {
  const pick = (kind: ImageChange["kind"]) => changes.filter((c) => c.kind === kind).map((c) => ({ name: c.name, image: c.from }));
  return captureImages({ containers: pick("container"), initContainers: pick("initContainer") });
}

/** Resolves to the plan when every check passes; rejects with a one-line SwitchRefusedError otherwise. */
export async function planSwitch({ config, copy, view: read, registryPath = { path: "legacy", why: "not read" }, checker }: GateInputs): Promise<Gate> {
  if (registryPath.path === "refused") throw new SwitchRefusedError(registryPath.reason);
  const record = requireVerifiedCopy(copy, config.targetImage, config.copyStack);
  const target = parseTaggedReference(config.targetImage, "targetImage");
  requireSameRegistryPath(record, registryPath, formatRepository(target));
  const targetImage = formatReference(target);
  const view = registryPath.path === "module" ? moduleView(read, registryPath.section.imagesRepo, target, targetImage) : read;
  requireCopiedRelease(record, view.deckhouseImage, targetImage, view.pods);
  requireNeededGroups(record, view.modules, config.copyStack);

  let source;
  try {
    source = parseRepositoryName(record.sourceRepository);
  } catch (err) {
    throw new SwitchRefusedError(`images-copier: refusing to switch: the copy record's sourceRepository is not a repository name (${(err as Error).message})`);
  }
  let imageChanges: ImageChange[];
  try {
    imageChanges = planImageChanges(view.images, targetImage, source, record.sourceImage);
  } catch (err) {
    throw new SwitchRefusedError(`images-copier: refusing to switch: ${(err as Error).message}`);
  }

  const targetRepository = formatRepository(target);
  const mode: UpdatesMode = config.updates ?? (record.updateImages ? "keep" : "disable");
  const { home, channel } = view.releaseChannel;
  const releaseChannelImage = mode === "keep" && channel ? `${targetRepository}/release-channel:${channelTag(channel)}` : undefined;
  let module: ReturnType<typeof planModuleConfigPath> | undefined;
  if (registryPath.path === "module" || registryPath.path === "module-legacy") {
    try {
      module = planModuleConfigPath(registryPath, read.registrySecret, read.deckhouseImage, record.sourceImage, target);
    } catch (err) {
      throw new SwitchRefusedError(`images-copier: refusing to switch: ${(err as Error).message}`);
    }
  }
  // Deckhouse renders its image as `<registry>:<its current tag>` once the registry changed (legacy: from
  // deckhouse-registry; the module: from imagesRepo): that tag must be in the target too.
  const originalTag = module ? [module.plan.originalTagImage] : record.originalTagImage ? [record.originalTagImage] : [];
  const references = [...new Set([...referencesToCheck(imageChanges), ...originalTag, ...(releaseChannelImage ? [releaseChannelImage] : []), ...moduleReferences(view.modules, targetRepository)])];
  const expectations: RegistryExpectations = { references, targetImage, sourceDigest: record.sourceDigest, ...(releaseChannelImage ? { releaseChannelImage } : {}) };

  if (config.checkFrom === "local") {
    let proxy;
    try {
      proxy = proxySettingsFromEnv();
    } catch (err) {
      throw new SwitchRefusedError(`images-copier: refusing to switch: ${(err as Error).message}`);
    }
    const access = { username: config.targetUsername, password: config.targetPassword, insecure: config.targetInsecure, ca: config.targetCA, proxy };
    const refusal = await checkRegistryHere(target.registry, access, expectations, checker);
    if (refusal) throw new SwitchRefusedError(refusal);
  }

  const values = registrySecretValues(
    { image: targetImage, username: config.targetUsername, password: config.targetPassword, insecure: config.targetInsecure, ca: config.targetCA },
    Object.keys(view.registrySecret),
  );
  const { [".dockerconfigjson"]: _credentials, ...secretValues } = values;
  const secretKeys = Object.keys(values);
  return {
    plan: {
      copyStack: config.copyStack,
      record,
      targetImage,
      targetRegistry: target.registry,
      targetRepository,
      sourceRepository: formatRepository(source),
      imageChanges,
      secretValues: secretValues as Record<string, string>,
      secretKeys,
      updates: { mode, home, ...(channel ? { channel } : {}) },
      checks: { from: config.checkFrom, ...expectations },
      rollback: { images: rollbackImages(imageChanges), secretRestorable: !secretPointsAt(view.registrySecret, targetImage) },
      registryPath: describeRegistryPath(registryPath),
      ...(module ? { moduleConfig: module.plan } : {}),
    },
    proxyEnv: view.proxyEnv,
    secretCapture: captureSecret(view.registrySecret, secretKeys),
    ...(module ? { moduleSections: module.sections } : {}),
    nodeGroupsBefore: view.nodeGroups,
  };
}

/**
 * The cluster as the release and image checks read it in a configurable mode: in Direct and Proxy the Deployment
 * names the in-cluster address, which stands for the section's upstream; an image already in the target repository
 * (the module renders `<imagesRepo>:<current tag>`) counts as the switched target image, its pods' digests still
 * compared with the copied release.
 */
function moduleView(view: ClusterView, upstream: string, target: RepositoryName, targetImage: string): ClusterView {
  const inTarget = (image: string) => image.startsWith(`${formatRepository(target)}:`) || image.startsWith(`${formatRepository(target)}@`);
  const map = (image: string, name?: string) => {
    const up = upstreamImage(image, upstream);
    return name === DECKHOUSE_CONTAINER && inTarget(up) ? targetImage : up;
  };
  const images: PodTemplateImages = {
    containers: view.images.containers.map((c) => ({ name: c.name, image: map(c.image, c.name) })),
    initContainers: view.images.initContainers.map((c) => ({ name: c.name, image: map(c.image) })),
  };
  return { ...view, images, deckhouseImage: map(view.deckhouseImage, DECKHOUSE_CONTAINER) };
}
