// What the ModuleConfig path writes to existing objects, for the gate's proof (../../kube/write-proof.ts): the
// release-channel change, then the first section write the switch makes (the migration's, or the target's), as the
// same JSON merge patch of ModuleConfig `deckhouse`.
import type { SwitchStageConfig } from "../../../stack-config";
import type { KubeClient } from "../../kube";
import type { ProposedWrite } from "../../kube/write-proof";
import { releaseChannelWrites } from "../legacy-writes";
import type { Gate } from "../plan";
import { MODULE_CONFIG, sectionPatch } from "./module-config-cluster";
import { targetSection } from "./module-config";

export async function moduleConfigWrites(kube: KubeClient, gate: Gate, config: SwitchStageConfig): Promise<ProposedWrite[]> {
  const { plan } = gate;
  if (!plan.moduleConfig) return [];
  const writes = await releaseChannelWrites(kube, plan);
  const migration = gate.moduleSections?.migration;
  const section = migration ?? targetSection({ repository: plan.targetRepository, username: config.targetUsername, password: config.targetPassword, insecure: config.targetInsecure, ca: config.targetCA });
  writes.push({ object: "ModuleConfig deckhouse", verb: "patch", path: MODULE_CONFIG, body: sectionPatch(migration ? "Unmanaged" : plan.moduleConfig.mode, section) });
  return writes;
}
