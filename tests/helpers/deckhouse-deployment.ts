// The `d8-system/deckhouse` Deployment as the switch tests need it: given containers, optional init containers,
// annotations, generation and status; the rest as a real cluster shows it, with the labels Deckhouse gives it.
import { deckhouseLabels } from "./deckhouse-labels";

export interface ContainerSpec {
  name: string;
  image: string;
  [key: string]: unknown;
}

export interface DeckhouseDeploymentSpec {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  annotations?: Record<string, string>;
  generation?: number;
  status?: Record<string, unknown>;
}

export interface DeploymentObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; [key: string]: unknown };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export function deckhouseDeployment(spec: DeckhouseDeploymentSpec): DeploymentObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "deckhouse",
      namespace: "d8-system",
      // as `kubectl get deployment -n d8-system deckhouse --show-labels` shows them (deckhouse/deckhouse PR #13004)
      labels: deckhouseLabels({ app: "deckhouse", "app.kubernetes.io/managed-by": "Helm" }),
      ...(spec.generation !== undefined ? { generation: spec.generation } : {}),
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "deckhouse" } },
      template: {
        metadata: { labels: { app: "deckhouse" } },
        spec: { ...(spec.initContainers ? { initContainers: spec.initContainers } : {}), containers: spec.containers },
      },
    },
    ...(spec.status ? { status: spec.status } : {}),
  };
}
