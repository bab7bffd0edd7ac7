// Deckhouse's ValidatingAdmissionPolicies on objects labelled `heritage: deckhouse`, as
// `modules/002-deckhouse/templates/validation.yaml` (deckhouse/deckhouse) renders them for a release that is not a
// dev build, evaluated here in TypeScript instead of CEL:
// - `label-objects.deckhouse.io` (binding `heritage-label-objects.deckhouse.io`): CREATE/UPDATE/DELETE of an object
//   labelled `heritage: deckhouse` (old or new object; not with `maintenance.deckhouse.io/no-resource-reconciliation`
//   "" or "true") is refused unless a matchCondition excludes the request (system groups and users, the kinds
//   StorageClass/DeckhouseRelease/ModuleRelease, a pod template whose `kubectl.kubernetes.io/restartedAt` is added or
//   changed, a DELETE of an object labelled `security.deckhouse.io/heritage-bypass: delete`, a ModuleSource
//   `scanInterval`-only change) or the user is a `system:serviceaccount:d8-*` / `kube-*` account.
// - `deny-set-heritage-label.deckhouse.io` (binding of the same name): CREATE/UPDATE that sets or changes a
//   `heritage: deckhouse` label, by anyone but those system identities.
// Releases (CHANGELOG/CHANGELOG-v1.*.md): none before v1.62 (the project's Deckhouse facts); DELETE refused from
// v1.63 (#9180); `kubernetes-admin` excluded until v1.65 refused it too (#9852; the exclusion before is from the
// facts, its exact form is not in the sources here); `system:serviceaccount:kube-*` allowed, the heritage-bypass
// DELETE and the ModuleSource `scanInterval` exemptions from v1.75 (#16749, #17622); `deny-set-heritage-label`
// from v1.77 (#19668). Denials are reported as kube-apiserver reports a policy denial.
import type { Identity } from "./identity";
import { forbidden, type KubeStatus } from "./status";

export type Operation = "CREATE" | "UPDATE" | "DELETE";

interface Obj {
  kind?: string;
  metadata?: { labels?: Record<string, string>; [key: string]: unknown };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface AdmissionRequest {
  operation: Operation;
  kind: string;
  resource: string;
  group: string;
  name: string;
  identity: Identity;
  object?: Obj;
  oldObject?: Obj;
}

const SYSTEM_GROUPS = ["system:nodes", "system:serviceaccounts:kube-system", "system:serviceaccounts:d8-system"];
const SYSTEM_USERS = ["system:sudouser", "system:apiserver", "system:kube-controller-manager", "system:kube-scheduler", "system:volume-scheduler", "dhctl", "observability"];
const EXEMPT_KINDS = ["StorageClass", "DeckhouseRelease", "ModuleRelease"];
const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";

/** `v1.66`, `v1.66.3`, `1.62` → [1, 66]; `dev` → undefined (no policies rendered). */
function minor(version: string): number | undefined {
  const m = version.match(/^v?1\.(\d+)/);
  return m ? Number(m[1]) : undefined;
}

const labels = (o?: Obj) => o?.metadata?.labels ?? {};
const isDeckhouse = (o?: Obj) => o !== undefined && labels(o).heritage === "deckhouse";
const templateAnnotations = (o?: Obj) => ((o?.spec?.template as { metadata?: { annotations?: Record<string, string> } } | undefined)?.metadata?.annotations);
const hasTemplateMetadata = (o?: Obj) => Boolean((o?.spec?.template as { metadata?: unknown } | undefined)?.metadata);

function systemIdentity(identity: Identity, users: string[]): boolean {
  return identity.groups.some((g) => SYSTEM_GROUPS.includes(g)) || users.includes(identity.user);
}

const systemServiceAccount = (user: string, releaseMinor: number) =>
  user.startsWith("system:serviceaccount:d8-") || (releaseMinor >= 75 && user.startsWith("system:serviceaccount:kube-"));

/** The pod-template `restartedAt` exemption exactly as the policy's CEL states it (other changes are not looked at). */
function restartedAtChange(r: AdmissionRequest): boolean {
  if (!hasTemplateMetadata(r.object) || !hasTemplateMetadata(r.oldObject)) return false;
  const now = templateAnnotations(r.object);
  const before = templateAnnotations(r.oldObject);
  if (!now || !(RESTARTED_AT in now)) return false;
  return !before || !(RESTARTED_AT in before) || before[RESTARTED_AT] !== now[RESTARTED_AT];
}

function scanIntervalOnly(r: AdmissionRequest): boolean {
  if (r.operation !== "UPDATE" || r.kind !== "ModuleSource") return false;
  const before = r.oldObject?.spec?.scanInterval;
  const now = r.object?.spec?.scanInterval;
  return before !== now && JSON.stringify(r.object?.spec?.registry) === JSON.stringify(r.oldObject?.spec?.registry);
}

interface Policy {
  name: string;
  binding: string;
  /** The binding's objectSelector, matched against the old or the new object. */
  selects: (o: Obj) => boolean;
  /** The denial message, or undefined when the request is admitted (or not matched). */
  evaluate: (r: AdmissionRequest) => string | undefined;
}

function policies(releaseMinor: number): Policy[] {
  const users = releaseMinor < 65 ? [...SYSTEM_USERS, "kubernetes-admin"] : SYSTEM_USERS;
  const labelObjects: Policy = {
    name: "label-objects.deckhouse.io",
    binding: "heritage-label-objects.deckhouse.io",
    selects: (o) => isDeckhouse(o) && !["", "true"].includes(labels(o)["maintenance.deckhouse.io/no-resource-reconciliation"] ?? "absent"),
    evaluate(r) {
      if (r.operation === "DELETE" && releaseMinor < 63) return undefined;
      if (systemIdentity(r.identity, users) || EXEMPT_KINDS.includes(r.kind)) return undefined;
      if (restartedAtChange(r) || (releaseMinor >= 75 && scanIntervalOnly(r))) return undefined;
      if (releaseMinor >= 75 && r.operation === "DELETE" && labels(r.oldObject)["security.deckhouse.io/heritage-bypass"] === "delete") return undefined;
      if (systemServiceAccount(r.identity.user, releaseMinor)) return undefined;
      return "Creating, updating and deleting an objects with the `heritage: deckhouse` label is forbidden";
    },
  };
  const denySetHeritage: Policy = {
    name: "deny-set-heritage-label.deckhouse.io",
    binding: "deny-set-heritage-label.deckhouse.io",
    selects: isDeckhouse,
    evaluate(r) {
      if (r.operation === "DELETE") return undefined;
      if (systemIdentity(r.identity, users) || systemServiceAccount(r.identity.user, releaseMinor) || EXEMPT_KINDS.includes(r.kind)) return undefined;
      const now = labels(r.object).heritage;
      if (now === undefined) return undefined;
      const before = r.oldObject ? labels(r.oldObject).heritage : undefined;
      return before === now ? undefined : "Setting the `heritage` label is forbidden for non-system users";
    },
  };
  // Reported in name order when both deny (kube-apiserver reports the first denying policy).
  return releaseMinor >= 77 ? [denySetHeritage, labelObjects] : [labelObjects];
}

/** Deckhouse's admission for `version` (`v1.66`, `dev`), or undefined when that release renders none. */
export function deckhouseAdmission(version: string): ((r: AdmissionRequest) => KubeStatus | undefined) | undefined {
  const releaseMinor = minor(version);
  if (releaseMinor === undefined || releaseMinor < 62) return undefined;
  const rendered = policies(releaseMinor);
  return (r) => {
    for (const policy of rendered) {
      if (!(r.object && policy.selects(r.object)) && !(r.oldObject && policy.selects(r.oldObject))) continue;
      const denial = policy.evaluate(r);
      if (denial === undefined) continue;
      const message = `ValidatingAdmissionPolicy '${policy.name}' with binding '${policy.binding}' denied request: ${denial}`;
      return forbidden(r.resource, r.group, r.name, message, [{ message }]);
    }
    return undefined;
  };
}
