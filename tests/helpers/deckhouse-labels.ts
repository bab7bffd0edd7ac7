// The labels Deckhouse's Helm library (`helm_lib_module_labels`) puts on the objects of its `deckhouse` module, e.g.
// Secret `d8-system/deckhouse-registry` and Deployment `d8-system/deckhouse`: what its admission policies select on.
export const DECKHOUSE_LABELS: Readonly<Record<string, string>> = { heritage: "deckhouse", module: "deckhouse" };

export function deckhouseLabels(extra: Record<string, string> = {}): Record<string, string> {
  return { ...DECKHOUSE_LABELS, ...extra };
}
