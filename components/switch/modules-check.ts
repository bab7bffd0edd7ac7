// A gate of the switch: every group of images the cluster will pull from the new registry must be in the copy
// record. After the switch, ModuleSource `deckhouse` points at `<target>/modules`, so a Deployed module whose image
// the copy did not bring does not reinstall; operator-trivy, when on, pulls its databases from `<target>/security`.
import type { CopyRecord } from "../copy-record";
import type { ClusterModules } from "../copy/modules-read";
import { COPY_AGAIN, SwitchRefusedError } from "./copy-check";

/**
 * The module images the switched cluster pulls first, for the target registry check: each Deployed module's
 * `<target>/modules/<name>:<version>` and its `release:<channel>`.
 */
export function moduleReferences(modules: ClusterModules | undefined, targetRepository: string): string[] {
  return (modules?.deckhouse ?? []).flatMap((m) => [`${targetRepository}/modules/${m.name}:${m.version}`, `${targetRepository}/modules/${m.name}/release:${m.channel}`]);
}

/** Throws a one-line SwitchRefusedError naming the first module or group the record lacks. */
export function requireNeededGroups(record: CopyRecord, modules: ClusterModules | undefined, copyStack: string): void {
  if (!modules) return;
  const prefix = `images-copier: refusing to switch: copy stack "${copyStack}"`;
  const copied = new Set((record.modules ?? []).map((m) => `${m.name}@${m.version}`));
  const lacking = modules.deckhouse.filter((m) => !copied.has(`${m.name}@${m.version}`));
  if (lacking.length > 0) {
    const names = lacking.map((m) => `${m.name} ${m.version}`).join(", ");
    const why = record.modules === undefined ? "its record has no modules (an older copy stack, or copyModules: none)" : "its record lacks them";
    throw new SwitchRefusedError(
      `${prefix} did not copy the Deployed module${lacking.length > 1 ? "s" : ""} ${names} of ModuleSource deckhouse (${why}); after the switch Deckhouse pulls them from the target; set copyModules: deployed and ${COPY_AGAIN}`,
    );
  }
  if (modules.trivyEnabled && record.securityDatabases !== true) {
    throw new SwitchRefusedError(
      `${prefix} did not copy operator-trivy's security databases (<repo>/security/trivy-db:2 and the others), and operator-trivy is enabled; set copySecurityDatabases: auto or always and ${COPY_AGAIN}`,
    );
  }
}
