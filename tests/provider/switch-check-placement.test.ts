// The switch's check Job (`checkFrom: cluster`) where the scheduler cannot place it: the test server plays the
// scheduler (tests/helpers/scheduler-stand-in.ts) on nodes that are all tainted. The check fails in one line quoting
// the scheduler and saying what to set, before the switch changes anything; with the toleration it is placed.
import { makeClusterCheckProvider } from "../../components/switch/cluster-check-provider";
import { applyCheckObjects } from "../helpers/check-run-objects";
import { podOfJob, startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { schedulePod, type StandInNode } from "../helpers/scheduler-stand-in";
import { configureProvider } from "../helpers/serialized-provider";

const NODES: StandInNode[] = ["master-0", "master-1"].map((name) => ({ name, taints: [{ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" as const }] }));
const TARGET = "registry.example.com/client/deckhouse:rock-solid-1.46";

let kube: KubeApiServer;
beforeAll(async () => {
  kube = await startKubeApiServer();
  // the Job controller and the scheduler: a pod for each Job, placed or marked Unschedulable
  kube.onCreate("Job", (job) => kube.put(schedulePod(podOfJob(job), NODES)));
});
afterAll(() => kube?.stop());

test("an unschedulable check pod refuses the switch after unschedulableMinutes in one line naming the taint; the tolerating pod is placed", async () => {
  const p = makeClusterCheckProvider({ logPollMs: 20, rewatchDelayMs: 20, msPerMinute: 100 });
  await configureProvider(p as never, { "kubernetes:kubeconfig": kube.kubeconfigYaml });
  const spec = {
    expectations: { references: [TARGET], targetImage: TARGET, sourceDigest: `sha256:${"1".repeat(64)}` },
    target: { username: "client", password: "pw", insecure: false, image: TARGET },
    copierBundle: null,
    timeoutSeconds: 60,
    unschedulableMinutes: 2,
  };
  const error = await p.create(await applyCheckObjects(kube.kubeconfigYaml, spec)).then(() => undefined, (e: Error) => e);
  expect(error?.message).toMatch(
    /^images-copier: refusing to switch: the check Job d8-system\/images-copier-check did not run: pod images-copier-check-\w+ could not be scheduled for 0.2s \(unschedulableMinutes\): 0\/2 nodes are available: 2 node\(s\) had untolerated taint \{node-role.kubernetes.io\/control-plane: \}\. .*; set jobTolerations \(to tolerate the taint\)$/,
  );
  // the Job is removed as after any check; what the message says to set places the pod
  expect(kube.list("batch/v1", "Job", "d8-system")).toEqual([]);
  // a failed check keeps its Secret for the next up; a changed Job (the placement) replaces it, as the stage does
  for (const o of kube.list("v1", "Secret", "d8-system")) kube.remove("v1", "Secret", "d8-system", o.metadata.name);
  const placed = await applyCheckObjects(kube.kubeconfigYaml, { ...spec, placement: { tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists" }] } });
  const created: Array<{ spec?: { nodeName?: string } }> = [];
  kube.onCreate("Job", () => created.push(...(kube.list("v1", "Pod", "d8-system") as never[])));
  // no kubelet runs it here: it gives no verdict within a short timeout, but it was placed
  const noVerdict = await p.create({ ...placed, timeoutSeconds: 1 }).then(() => undefined, (e: Error) => e);
  expect(noVerdict?.message).toMatch(/gave no verdict \(no result within 1s\)/);
  expect(created.some((pod) => pod.spec?.nodeName === "master-0")).toBe(true);
}, 60_000);
