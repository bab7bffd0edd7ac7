// The gate and the plan of a switch, computed while the program runs, in `pulumi preview` as in `pulumi up`:
// the copy record, the release running now, the target registry (unless the cluster checks it), then what the
// switch writes. Everything in the plan is derived from the stack config and the copy record, not from how far
// an earlier switch got, so the same plan comes out before, half-way through and after a switch.
import { formatReference, formatRepository, parseRepositoryName, parseTaggedReference, proxySettingsFromEnv } from "../../copier";
import type { SwitchStageConfig } from "../../stack-config";
import type { ClusterView } from "./cluster-view";
import type { RegistryPath } from "../registry-mode";
import { requireSameRegistryPath, requireVerifiedCopy, SwitchRefusedError, type VerifiedCopy } from "./copy-check";
import { planImageChanges, referencesToCheck, type ImageChange } from "./images";
import { checkRegistryHere, type RegistryChecker, type RegistryExpectations } from "./registry-checks";
import { registrySecretValues, secretPointsAt } from "./registry-secret";
import { requireCopiedRelease } from "./release";
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
}

export interface Gate {
  plan: SwitchPlan;
  /** The deckhouse container's proxy variables, for the check Job (may hold passwords: a Pulumi secret). */
  proxyEnv: ClusterView["proxyEnv"];
  /** The Secret's current values of the keys the switch writes (credentials: a Pulumi secret from here on). */
  secretCapture: RollbackState["secret"];
}

export interface GateInputs {
  config: SwitchStageConfig;
  /** The copy stack's `copy` output. */
  copy: unknown;
  view: ClusterView;
  /** Which path the cluster's registry needs (components/registry-mode.ts); the copy must have read the same. */
  registryPath?: RegistryPath;
  checker?: RegistryChecker;
}

/** The vendor's side of every container the switch owns: what a rollback puts back. */
function rollbackImages(changes: ImageChange[]): RollbackState["deployment"] {
  const pick = (kind: ImageChange["kind"]) => changes.filter((c) => c.kind === kind).map((c) => ({ name: c.name, image: c.from }));
  return captureImages({ containers: pick("container"), initContainers: pick("initContainer") });
}

/** Resolves to the plan when every check passes; rejects with a one-line SwitchRefusedError otherwise. */
export async function planSwitch({ config, copy, view, registryPath, checker }: GateInputs): Promise<Gate> {
  const record = requireVerifiedCopy(copy, config.targetImage, config.copyStack);
  const target = parseTaggedReference(config.targetImage, "targetImage");
  if (registryPath) requireSameRegistryPath(record, registryPath, formatRepository(target));
  const targetImage = formatReference(target);
  requireCopiedRelease(record, view.deckhouseImage, targetImage, view.pods);

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
  // Deckhouse renders its image as `<registry>:<its current tag>` once the registry changed: that tag must be there too.
  const originalTag = record.originalTagImage ? [record.originalTagImage] : [];
  const references = [...new Set([...referencesToCheck(imageChanges), ...originalTag, ...(releaseChannelImage ? [releaseChannelImage] : [])])];
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
    },
    proxyEnv: view.proxyEnv,
    secretCapture: captureSecret(view.registrySecret, secretKeys),
  };
}
