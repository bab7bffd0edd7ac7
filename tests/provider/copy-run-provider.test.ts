// The CopyRun dynamic provider's methods against the loopback Kubernetes API test server (TLS, bearer token). It is
// a simulation of the API, not a cluster: the test plays the Kubernetes provider (applyCopyRunObjects creates the
// Secret, ConfigMap and Job the program declares), the job controller and the kubelet (on a Job's creation it adds
// the Pod, writes its log and finally sets the Job's Complete/Failed condition, as a real cluster would).
import { connectKube } from "../../components/kube";
import { waitForJob } from "../../components/copier-job/job-waiter";
import { FAILURE_MESSAGE, makeCopyRunProvider, SUCCESS_MESSAGE, type CopyRunOutputs } from "../../components/copy/run-provider";
import { applyCopyRunObjects, type AppliedRun } from "../helpers/copy-run-objects";
import { podOfJob, startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";
import { preempted, schedulePod, type StandInNode } from "../helpers/scheduler-stand-in";
import { serializeAndRevive } from "../helpers/serialized-provider";

const TARGET_PASSWORD = "target-secret-Pa55";
const SOURCE_PASSWORD = "license-key-0123456789";
const SOURCE_IMAGE = "registry.deckhouse.io/deckhouse/ee:v1.58.3";
const DIGESTS = { source: SOURCE_IMAGE, sourceDigest: `sha256:${"5".repeat(64)}`, imagesDigest: `sha256:${"6".repeat(64)}` };
const RESULT = { status: "succeeded", images: 42, copied: 40, skipped: 2, failed: 0, bytes: 5 * 1024 ** 3, durationMs: 61_500, target: "r.example/d8/ee:t1", ...DIGESTS };

let server: KubeApiServer;
const timers = new Set<NodeJS.Timeout>();
let scenario: (job: KubeObject, pod: string) => void = () => {};

function later(ms: number, fn: () => void): void {
  const timer = setTimeout(() => {
    timers.delete(timer);
    fn();
  }, ms);
  timers.add(timer);
}

function setJobCondition(name: string, type: "Complete" | "Failed", extra: Record<string, unknown> = {}): void {
  const job = server.get("batch/v1", "Job", "d8-system", name);
  if (!job) return;
  const now = new Date().toISOString();
  server.put({
    ...job,
    status: { ...extra, startTime: now, completionTime: type === "Complete" ? now : undefined, conditions: [{ type, status: "True", lastTransitionTime: now, ...(type === "Failed" ? { reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" } : {}) }] },
  });
}

beforeAll(async () => {
  server = await startKubeApiServer();
  server.onCreate("Job", (job) => {
    const pod = podOfJob(job);
    server.put(pod);
    scenario(job, pod.metadata.name);
  });
});

/** What destroy leaves: nothing (the Kubernetes provider and CopierBundle delete what CopyRun does not). */
function clearRunObjects(): void {
  for (const kind of ["Job", "Pod", "Secret", "ConfigMap"]) {
    for (const o of server.list(kind === "Job" ? "batch/v1" : "v1", kind, "d8-system")) server.remove(o.apiVersion, kind, "d8-system", o.metadata.name);
  }
}

afterEach(() => {
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
  scenario = () => {};
  clearRunObjects();
});
afterAll(async () => {
  await server?.stop();
});

/** The run's objects as `pulumi up` creates them before CopyRun; returns CopyRun's inputs. */
function applyRun(runId = "1", opts: Pick<Parameters<typeof applyCopyRunObjects>[1], "timeoutMinutes" | "pullSecret" | "placement" | "unschedulableMinutes"> & { copierBundle?: string | null } = {}): Promise<AppliedRun> {
  return applyCopyRunObjects(server.kubeconfigYaml, {
    runId,
    timeoutMinutes: opts.timeoutMinutes,
    pullSecret: opts.pullSecret,
    placement: opts.placement,
    unschedulableMinutes: opts.unschedulableMinutes,
    target: { username: "robot", password: TARGET_PASSWORD, insecure: false, image: "r.example/d8/ee:t1" },
    source: { username: "license-token", password: SOURCE_PASSWORD, insecure: false, image: SOURCE_IMAGE },
    copierBundle: opts.copierBundle === undefined ? "console.log('copier')" : opts.copierBundle,
  });
}

function provider(lines: string[], msPerMinute?: number, stuckGraceMs?: number) {
  return makeCopyRunProvider({ log: (line) => lines.push(line), logPollMs: 40, rewatchDelayMs: 20, msPerMinute, stuckGraceMs, jobGoneTimeoutMs: 5000 });
}

/** The provider as the host has it: configured with the stack's current config (its only cluster access). */
async function configured(p: ReturnType<typeof makeCopyRunProvider>, kubeconfig = server.kubeconfigYaml) {
  await p.configure!({ config: { get: (k: string) => (k === "kubernetes:kubeconfig" ? kubeconfig : undefined), require: () => "" } });
  return p;
}

const progress = (n: number) => `images-copier progress: images ${n}/42 (copied ${n}, skipped 0, failed 0), 1.20 GiB, 45.3 MiB/s, ETA 3m12s`;
const resultLine = (result: Record<string, unknown>) => `images-copier result: ${JSON.stringify(result)}\n`;

function succeedAfterLog(job: KubeObject, pod: string, result: Record<string, unknown> = RESULT): void {
  server.setPodLog("d8-system", pod, `${progress(10)}\nsome other line\n`);
  later(150, () => server.appendPodLog("d8-system", pod, `${progress(30)}\n`));
  later(300, () => {
    server.appendPodLog("d8-system", pod, resultLine(result));
    setJobCondition(job.metadata.name, "Complete", { succeeded: 1 });
  });
}

function kinds(): string[] {
  return ["Job", "Pod", "Secret", "ConfigMap"].filter((kind) => server.list(kind === "Job" ? "batch/v1" : "v1", kind, "d8-system").length > 0);
}

type Failure = Error & { id?: string; properties?: CopyRunOutputs & { __provider?: string } };
const failureOf = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as Failure);

test("success: progress relayed, then Job (Pods first), Secret and ConfigMap deleted; the summary records the digests", async () => {
  const lines: string[] = [];
  scenario = succeedAfterLog;
  const inputs = await applyRun();
  const p = await configured(provider(lines));
  const before = server.requests.length;
  const result = await p.create!(inputs);

  expect(result.id).toBe("d8-system/copy-images/1");
  const outs = result.outs as CopyRunOutputs;
  expect(outs.status).toBe("succeeded");
  expect(outs.message).toBe(SUCCESS_MESSAGE);
  expect(outs.summary).toEqual({
    images: 42, copied: 40, skipped: 2, failed: 0, bytes: 5 * 1024 ** 3, bytesHuman: "5.00 GiB", durationMs: 61_500, durationSeconds: 61.5,
    target: "r.example/d8/ee:t1", ...DIGESTS, verificationOnly: false,
  });
  expect(kinds()).toEqual([]);
  expect(lines).toContain(progress(10));
  expect(lines).toContain(progress(30));
  expect(lines).not.toContain("some other line");
  expect(lines.filter((l) => l === progress(10))).toHaveLength(1); // polled many times, relayed once
  expect(lines).toContain(SUCCESS_MESSAGE);
  expect(lines).toContain("images-copier: 42 images (40 copied, 2 already there), 5.00 GiB in 61.5s");
  // the Job went away with its Pods (foreground propagation; the orphaning default would have left them)
  const deletes = server.requests.slice(before).filter((r) => r.method === "DELETE").map((r) => `${r.path.split("/").slice(-2).join("/")} ${r.query.propagationPolicy ?? ""}`.trim());
  expect(deletes).toEqual(["jobs/copy-images Foreground", "secrets/images-copier-config", `configmaps/${inputs.configMapName}`]);
  expect(lines.join("\n")).not.toContain(TARGET_PASSWORD);
});

test("a verification run: nothing had to be copied, and the run says so", async () => {
  const lines: string[] = [];
  scenario = (job, pod) => succeedAfterLog(job, pod, { ...RESULT, copied: 0, skipped: 42, bytes: 0 });
  const p = await configured(provider(lines));
  const outs = (await p.create!(await applyRun("verify"))).outs as CopyRunOutputs;
  expect(outs.summary).toMatchObject({ copied: 0, skipped: 42, bytes: 0, verificationOnly: true });
  expect(lines).toContain("images-copier: verification run: all 42 images were already in the target with the source's digests; nothing was copied");
  expect(kinds()).toEqual([]);
});

test("a completed Job whose log lacks a usable result line is not recorded as a copy: kept, with the reason", async () => {
  const cases: Array<[string, RegExp]> = [
    ["", /completed, but its log has no result line; nothing is recorded as copied/],
    [resultLine({ ...RESULT, sourceDigest: undefined, imagesDigest: undefined }), /no source, sourceDigest or imagesDigest \(a copier older than this program: rebuild the copier image from the Dockerfile\)/],
    [resultLine({ ...RESULT, source: "registry.deckhouse.io/deckhouse/ee:v1.57.0" }), /it copied registry\.deckhouse\.io\/deckhouse\/ee:v1\.57\.0, not the deckhouse image registry\.deckhouse\.io\/deckhouse\/ee:v1\.58\.3/],
  ];
  for (const [log, reason] of cases) {
    scenario = (job, pod) => {
      server.setPodLog("d8-system", pod, `${progress(42)}\n${log}`);
      later(50, () => setJobCondition(job.metadata.name, "Complete", { succeeded: 1 }));
    };
    const p = await configured(provider([]));
    const error = await failureOf(p.create!(await applyRun("noresult")));
    expect(error?.message).toMatch(reason);
    expect(error?.message).toMatch(/change runId to run it again\.$/);
    expect(error?.properties?.status).toBe("failed");
    expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
    clearRunObjects();
  }
});

test("failure: everything kept, the hook's message, the Job's reason and the log tail; state records the failed run", async () => {
  const lines: string[] = [];
  scenario = (job, pod) => {
    server.setPodLog("d8-system", pod, [progress(5), "images-copier: error: r.example/d8/ee:abc: 401 Unauthorized", resultLine({ ...RESULT, status: "failed", failed: 1 })].join("\n"));
    later(100, () => setJobCondition(job.metadata.name, "Failed", { failed: 1 }));
  };
  const inputs = await applyRun();
  const p = await configured(provider(lines));
  const error = (await failureOf(p.create!(inputs)))!;

  expect(error.message.startsWith(`${FAILURE_MESSAGE}\nJob d8-system/copy-images: BackoffLimitExceeded: Job has reached the specified backoff limit.`)).toBe(true);
  expect(error.message).toContain("images-copier: error: r.example/d8/ee:abc: 401 Unauthorized");
  expect(error.message).not.toContain(TARGET_PASSWORD);
  expect(error.id).toBe("d8-system/copy-images/1");
  // the record the engine keeps: the run's identity and outcome, no credential (there is none in the inputs at all)
  expect(error.properties).toMatchObject({ status: "failed", runId: "1", jobUid: inputs.jobUid, __provider: "serialized-provider-text" });
  expect(JSON.stringify(error.properties)).not.toMatch(/password|Pa55|license-key/);
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
  expect(lines).toContain("images-copier: error: r.example/d8/ee:abc: 401 Unauthorized");

  // `pulumi up` with nothing changed: the Job is still the failed one, so the run fails again at once
  const jobsCreated = () => server.requests.filter((r) => r.method === "POST" && r.path.endsWith("/jobs")).length;
  const created = jobsCreated();
  const p2 = await configured(provider([]));
  expect(await p2.diff!(error.id!, error.properties!, inputs)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: true });
  const again = await failureOf(p2.update!(error.id!, error.properties!, inputs));
  expect(again?.message.startsWith(FAILURE_MESSAGE)).toBe(true);
  expect(jobsCreated()).toBe(created); // CopyRun never creates a Job itself
});

test("a re-run after a failure: the old record's delete frees the Job's name, the new Job (new uid) is waited on", async () => {
  scenario = (job) => later(50, () => setJobCondition(job.metadata.name, "Failed", { failed: 1 }));
  const p = await configured(provider([]));
  const failedRun = await applyRun();
  const error = (await failureOf(p.create!(failedRun)))!;

  // replaceUnready: the Kubernetes provider replaces the failed Job; CopyRun follows the Job's uid, delete first
  const oldUid = failedRun.jobUid;
  expect((await p.diff!(error.id!, error.properties!, { ...failedRun, jobUid: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" })).replaces).toEqual(["jobUid"]);
  await p.delete!(error.id!, error.properties!);
  expect(server.get("batch/v1", "Job", "d8-system", "copy-images")).toBeUndefined();
  expect(kinds().sort()).toEqual(["ConfigMap", "Secret"]); // the Secret and ConfigMap belong to their own resources
  expect(server.requests.find((r) => r.method === "DELETE" && r.path.endsWith("/jobs/copy-images"))?.query.propagationPolicy).toBe("Foreground");

  // the Kubernetes provider creates the replacement Job; the new record waits for it
  clearRunObjects();
  scenario = succeedAfterLog;
  const rerun = await applyRun();
  expect(rerun.jobUid).not.toBe(oldUid);
  expect(((await p.create!(rerun)).outs as CopyRunOutputs).status).toBe("succeeded");
  expect(kinds()).toEqual([]);
});

test("delete and cleanup remove only the run's own objects: a newer object of the same name stays (uid preconditions)", async () => {
  scenario = (job) => later(50, () => setJobCondition(job.metadata.name, "Failed"));
  const p = await configured(provider([]));
  const first = await applyRun("a");
  const error = (await failureOf(p.create!(first)))!;
  // someone (a newer run) replaced the Job with another of the same name
  server.remove("batch/v1", "Job", "d8-system", "copy-images");
  scenario = () => {};
  const newer = await connectKube({ kubeconfig: server.kubeconfigYaml });
  try {
    await newer.create("/apis/batch/v1/namespaces/d8-system/jobs", { apiVersion: "batch/v1", kind: "Job", metadata: { name: "copy-images" }, spec: { template: { spec: { containers: [] } } } });
  } finally {
    await newer.close();
  }
  await p.delete!(error.id!, error.properties!);
  const survivor = server.get("batch/v1", "Job", "d8-system", "copy-images");
  expect(survivor?.metadata.uid).toBeDefined();
  expect(survivor?.metadata.uid).not.toBe(first.jobUid);
});

test("a watch that drops mid-wait is re-established and the run still finishes", async () => {
  const dropped = server.dropNextWatches(2);
  scenario = (job, pod) => {
    server.setPodLog("d8-system", pod, `${progress(1)}\n`);
    // the Job completes only once both watches were cut: the waiter must have come back after each drop to see it
    void dropped.then(() => {
      server.appendPodLog("d8-system", pod, resultLine(RESULT));
      setJobCondition(job.metadata.name, "Complete", { succeeded: 1 });
    });
  };
  const inputs = await applyRun("drop");
  const before = server.requests.filter((r) => r.query.watch === "1").length;
  const p = await configured(provider([]));
  expect(((await p.create!(inputs)).outs as CopyRunOutputs).status).toBe("succeeded");
  // the first watch was cut, the second (a re-watch) was cut too; the completion came after both
  expect(server.requests.filter((r) => r.query.watch === "1").length - before).toBeGreaterThanOrEqual(2);
  expect(kinds()).toEqual([]);
});

test("a Job that never finishes hits timeoutMinutes with a clear message and is kept", async () => {
  const lines: string[] = [];
  scenario = (_job, pod) => {
    server.setPodLog("d8-system", pod, `${progress(2)}\n`);
    const stored = server.get("v1", "Pod", "d8-system", pod) as KubeObject;
    server.put({ ...stored, status: { phase: "Pending", containerStatuses: [{ name: "copier", state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } } }] } });
  };
  const p = await configured(provider(lines, 400)); // one "minute" is 400 ms here
  const error = (await failureOf(p.create!(await applyRun("slow", { timeoutMinutes: 1 }))))!;
  expect(error.message).toMatch(/^Image copier did not finish within 1 minute \(timeoutMinutes\)/);
  expect(error.message).toContain(progress(2));
  expect(error.properties?.status).toBe("timeout");
  expect(lines.filter((l) => l.includes("container copier is waiting: ImagePullBackOff: Back-off pulling image"))).toHaveLength(1);
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
});

test("a pod stuck in ImagePullBackOff fails the run after the grace period, naming pod, container, image and reason", async () => {
  let podName = "";
  scenario = (_job, pod) => {
    podName = pod;
    const stored = server.get("v1", "Pod", "d8-system", pod) as KubeObject;
    server.put({ ...stored, status: { phase: "Pending", containerStatuses: [{ name: "copier", image: "node:20-bookworm-slim", state: { waiting: { reason: "ErrImagePull", message: "pull access denied" } } }] } });
    later(100, () => {
      const again = server.get("v1", "Pod", "d8-system", pod) as KubeObject;
      server.put({ ...again, status: { phase: "Pending", containerStatuses: [{ name: "copier", state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } } }] } });
    });
  };
  // the run's own timeout is far away (10 "minutes" of 5 s): only the stuck pod can end it
  const p = await configured(provider([], 5000, 300));
  const error = (await failureOf(p.create!(await applyRun("stuck", { timeoutMinutes: 10 }))))!;
  expect(error.message.startsWith(FAILURE_MESSAGE)).toBe(true);
  expect(error.message).toContain(`pod ${podName}: container copier (image node:20-bookworm-slim) has been waiting for 0s: ImagePullBackOff: Back-off pulling image`);
  expect(error.properties?.status).toBe("failed");
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]); // kept for inspection
});

/** A cluster whose every node is a tainted system node (Deckhouse's dedicated.deckhouse.io taint). */
const SYSTEM_NODES: StandInNode[] = ["system-0", "system-1", "system-2"].map((name) => ({
  name,
  labels: { "node-role.deckhouse.io/system": "" },
  taints: [{ key: "dedicated.deckhouse.io", value: "system", effect: "NoExecute" as const }],
}));

/** The scheduler's turn: the stored pod placed on SYSTEM_NODES or marked Unschedulable; true when placed. */
function scheduleStored(pod: string): boolean {
  const placed = schedulePod(server.get("v1", "Pod", "d8-system", pod) as KubeObject, SYSTEM_NODES);
  server.put(placed);
  return (placed.spec as { nodeName?: string }).nodeName !== undefined;
}

test("a pod the scheduler cannot place fails the run after unschedulableMinutes in one line naming the taint and jobTolerations; a new runId with the toleration runs", async () => {
  const lines: string[] = [];
  let podName = "";
  scenario = (job, pod) => {
    podName = pod;
    if (scheduleStored(pod)) succeedAfterLog(job, pod);
  };
  // unschedulableMinutes 2 of 100 ms; the run's own timeout (50 "minutes") is far away: only the scheduler can end it
  const p = await configured(provider(lines, 100));
  const error = (await failureOf(p.create!(await applyRun("unplaced", { timeoutMinutes: 50, unschedulableMinutes: 2 }))))!;
  expect(error.message.split("\n")).toHaveLength(1);
  expect(error.message).toMatch(new RegExp(`^images-copier: Job d8-system/copy-images failed: pod ${podName} could not be scheduled for 0.2s \\(unschedulableMinutes\\): 0/3 nodes are available: 3 node\\(s\\) had untolerated taint \\{dedicated.deckhouse.io: system\\}\\. .*; set jobTolerations \\(to tolerate the taint\\)\\. Job, Pod and Secret images-copier-config are kept`));
  expect(error.properties?.status).toBe("failed");
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]); // kept, as on any failure
  expect(lines).toContain(`images-copier: pod ${podName} cannot be scheduled yet: ${(server.get("v1", "Pod", "d8-system", podName)!.status as { conditions: Array<{ message: string }> }).conditions[0].message}`);

  // what the message says to set, set: the same nodes take the pod and the run goes through
  clearRunObjects();
  const placement = { nodeSelector: { "node-role.deckhouse.io/system": "" }, tolerations: [{ key: "dedicated.deckhouse.io", operator: "Equal", value: "system" }] };
  const inputs = await applyRun("placed", { timeoutMinutes: 50, unschedulableMinutes: 2, placement });
  const job = server.get("batch/v1", "Job", "d8-system", "copy-images") as unknown as { spec: { template: { spec: Record<string, unknown> } } };
  expect(job.spec.template.spec).toMatchObject(placement);
  expect(((await p.create!(inputs)).outs as CopyRunOutputs).status).toBe("succeeded");
  expect(kinds()).toEqual([]); // a placed run is cleaned up as any successful run
}, 60_000);

test("a preempted pod fails the run at once, saying so, that a priority class prevents it and that a new runId retries; objects kept", async () => {
  let podName = "";
  scenario = (job, pod) => {
    podName = pod;
    scheduleStored(pod); // the toleration below places it
    server.setPodLog("d8-system", pod, `${progress(10)}\n`);
    // the scheduler marks its victim, then the Job controller counts it failed (backoffLimit 0), then it is gone
    later(100, () => server.put(preempted(server.get("v1", "Pod", "d8-system", pod) as KubeObject, "default-scheduler")));
    later(400, () => setJobCondition(job.metadata.name, "Failed", { failed: 1 }));
  };
  const p = await configured(provider([], 5000));
  const placement = { tolerations: [{ operator: "Exists" }] };
  const error = (await failureOf(p.create!(await applyRun("preempted", { timeoutMinutes: 10, placement }))))!;
  expect(error.message).toBe(
    `images-copier: Job d8-system/copy-images failed: pod ${podName} was preempted by the scheduler (a pod of higher priority took its place): default-scheduler: preempting to accommodate a higher priority pod (a jobPriorityClassName of higher priority keeps it from being preempted); change runId to run it again. Job, Pod and Secret images-copier-config are kept (\`kubectl -n d8-system describe pod ${podName}\`).`,
  );
  expect(error.properties?.status).toBe("failed");
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
}, 60_000);

test("a pod evicted by the kubelet (node pressure) fails the run saying so, even when the Job's Failed condition is seen first", async () => {
  let podName = "";
  scenario = (job, pod) => {
    podName = pod;
    const stored = server.get("v1", "Pod", "d8-system", pod) as KubeObject;
    // the kubelet stops the pod and marks it; the Job controller counts it failed in the same moment (backoffLimit 0)
    later(50, () => {
      server.put({
        ...stored,
        status: {
          phase: "Failed",
          reason: "Evicted",
          message: "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 512Mi.",
          conditions: [{ type: "DisruptionTarget", status: "True", reason: "TerminationByKubelet", message: "The node was low on resource: ephemeral-storage." }],
        },
      });
      setJobCondition(job.metadata.name, "Failed", { failed: 1 });
    });
  };
  const p = await configured(provider([], 5000));
  const error = (await failureOf(p.create!(await applyRun("evicted", { timeoutMinutes: 10 }))))!;
  expect(error.message).toBe(
    `images-copier: Job d8-system/copy-images failed: pod ${podName} was evicted by the kubelet (node pressure or shutdown): The node was low on resource: ephemeral-storage.; change runId to run it again. Job, Pod and Secret images-copier-config are kept (\`kubectl -n d8-system describe pod ${podName}\`).`,
  );
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
}, 60_000);

test("RBAC refusing to read the Job fails at once with a clear message; the run is recorded so destroy cleans up", async () => {
  let allow = () => {};
  scenario = () => {
    allow = server.rejectRequests({ method: "GET", kind: "Job" }, 403, "Forbidden", 'jobs.batch "copy-images" is forbidden: User "robot" cannot get resource "jobs"');
  };
  try {
    const inputs = await applyRun("rbac");
    const p = await configured(provider([], 5000)); // a 5-"minute" (25 s) timeout that must not be reached
    const error = (await failureOf(p.create!(inputs)))!;
    expect(error.message).toMatch(/^images-copier: cannot read Job d8-system\/copy-images: Kubernetes API GET .*: 403 jobs\.batch "copy-images" is forbidden: .* \(check the credentials and RBAC of the Kubernetes account in use\)/);
    expect(error.id).toBe("d8-system/copy-images/rbac");
    expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
    allow();
    await p.delete!(error.id!, error.properties!);
    expect(server.list("batch/v1", "Job", "d8-system")).toEqual([]);
  } finally {
    allow();
  }
});

test("a malformed Job status from the API server fails the run instead of being read as 'not finished'", async () => {
  scenario = (job) =>
    later(50, () => {
      const stored = server.get("batch/v1", "Job", "d8-system", job.metadata.name) as KubeObject;
      server.put({ ...stored, status: { conditions: [{ type: "Complete", status: true }] } });
    });
  const p = await configured(provider([], 5000));
  const error = await failureOf(p.create!(await applyRun("malformed")));
  expect(error?.message).toMatch(/^images-copier: unexpected Job from the Kubernetes API: status\.conditions\.0\.status: /);
});

test("copierBundled: no ConfigMap to wait for or clean up; the run succeeds", async () => {
  scenario = succeedAfterLog;
  const inputs = await applyRun("bundled", { copierBundle: null });
  expect(inputs.configMapName).toBeUndefined();
  const p = await configured(provider([]));
  expect(((await p.create!(inputs)).outs as CopyRunOutputs).status).toBe("succeeded");
  expect(kinds()).toEqual([]);
});

test("a copier image pulled from the target registry: its pull Secret goes with the run on success, by uid only; a failure keeps it", async () => {
  const pullSecret = () => server.get("v1", "Secret", "d8-system", "images-copier-registry");
  const p = await configured(provider([]));
  scenario = succeedAfterLog;
  const inputs = await applyRun("pulled", { copierBundle: null, pullSecret: true });
  expect(inputs).toMatchObject({ pullSecretName: "images-copier-registry", pullSecretUid: pullSecret()?.metadata.uid });
  const before = server.requests.length;
  expect(((await p.create!(inputs)).outs as CopyRunOutputs).status).toBe("succeeded");
  const deletes = server.requests.slice(before).filter((r) => r.method === "DELETE").map((r) => r.path.split("/").slice(-2).join("/"));
  expect(deletes).toEqual(["jobs/copy-images", "secrets/images-copier-config", "secrets/images-copier-registry"]);
  expect(kinds()).toEqual([]);

  // a newer pull Secret of the same name (another run's) is not this run's to delete
  const next = await applyRun("pulled-2", { copierBundle: null, pullSecret: true });
  server.remove("v1", "Secret", "d8-system", "images-copier-registry");
  const newer = server.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "images-copier-registry", namespace: "d8-system" }, type: "kubernetes.io/dockerconfigjson", data: {} });
  expect(((await p.create!(next)).outs as CopyRunOutputs).status).toBe("succeeded");
  expect(pullSecret()?.metadata.uid).toBe(newer.metadata.uid);
  clearRunObjects();

  scenario = (job) => later(50, () => setJobCondition(job.metadata.name, "Failed"));
  const failing = await applyRun("pulled-3", { copierBundle: null, pullSecret: true });
  await failureOf(p.create!(failing));
  expect(pullSecret()?.metadata.uid).toBe(failing.pullSecretUid);
  const recorded = { ...failing, status: "succeeded" } as unknown as CopyRunOutputs;
  expect(await p.diff!("id", recorded, { ...failing, pullSecretUid: "other" })).toEqual({ changes: true, replaces: ["pullSecretUid"], deleteBeforeReplace: true });
});

test("read keeps the recorded outcome without touching the cluster; diff and update after success start nothing", async () => {
  const p = await configured(provider([]));
  const inputs = await applyRun();
  const recorded = { ...inputs, status: "succeeded", message: SUCCESS_MESSAGE, finishedAt: "2026-01-01T00:00:00.000Z", summary: { images: 1 } } as unknown as CopyRunOutputs;
  const count = server.requests.length;
  expect(await p.read!("d8-system/copy-images/1", recorded)).toEqual({ id: "d8-system/copy-images/1", props: recorded });
  expect(await p.diff!("id", recorded, inputs)).toEqual({ changes: false, replaces: [], deleteBeforeReplace: true });
  const updated = await p.update!("d8-system/copy-images/1", recorded, { ...inputs, timeoutMinutes: 99 });
  expect(updated.outs).toMatchObject({ status: "succeeded", timeoutMinutes: 99, summary: { images: 1 }, finishedAt: "2026-01-01T00:00:00.000Z" });
  expect(server.requests.length).toBe(count);
  // a new Job, Secret or ConfigMap, or another runId, is another run: replaced, the old record deleted first
  for (const key of ["runId", "jobUid", "secretUid", "configMapUid"] as const) {
    expect(await p.diff!("id", recorded, { ...inputs, [key]: "other" })).toEqual({ changes: true, replaces: [key], deleteBeforeReplace: true });
  }
});

test("cluster access comes from configure at every call: a rotated credential works, the record holds none", async () => {
  scenario = succeedAfterLog;
  const inputs = await applyRun("rotated");
  const p = await configured(provider([]), await server.clientCertKubeconfigYaml());
  const outs = (await p.create!(inputs)).outs as CopyRunOutputs;
  expect(outs.status).toBe("succeeded");
  expect(Object.keys(outs).sort()).toEqual(["configMapName", "configMapUid", "finishedAt", "jobName", "jobUid", "message", "namespace", "runId", "secretName", "secretUid", "sourceImage", "status", "summary", "timeoutMinutes", "__provider"].sort());
  expect(JSON.stringify(outs)).not.toContain("BEGIN");
  // a provider configured with a token that no longer works fails with the API server's answer, not a stale one
  const stale = await configured(provider([]), server.kubeconfigYaml.replace(server.token, "revoked-token"));
  await expect(stale.delete!("id", outs)).rejects.toThrow(/401/);
});

test("serialized like the engine does it: no credentials or local requires; the revived provider relays, fails and refuses as itself", async () => {
  const serialized = await serializeAndRevive(makeCopyRunProvider({ logPollMs: 40, rewatchDelayMs: 20 }));
  expect(serialized.containsSecrets).toBe(false);
  for (const secret of [server.token, TARGET_PASSWORD, SOURCE_PASSWORD]) expect(serialized.text).not.toContain(secret);
  expect(serialized.text).not.toMatch(/require\("\.\/|require\("\.\.\//); // no lazy local require: the host has no ts-node
  const revived = serialized.provider;
  await configured(revived);
  // the revived provider logs with console.log to the process's stdout, as in the dynamic-provider host (whose
  // stdout the engine shows); it is evaluated outside jest's sandbox, so its console is the real one
  const logged = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
  try {
    scenario = succeedAfterLog;
    const result = await revived.create!(await applyRun("serialized"));
    expect((result.outs as CopyRunOutputs).summary?.images).toBe(42);
    expect(kinds()).toEqual([]);
    const lines = logged.mock.calls.flatMap((call) => String(call[0]).split("\n"));
    expect(lines).toEqual(expect.arrayContaining([progress(10), progress(30), SUCCESS_MESSAGE]));

    // a failure keeps its message, id and record (the host turns them into ErrorResourceInitFailed)
    scenario = (job, pod) => {
      server.setPodLog("d8-system", pod, "images-copier: error: r.example/d8/ee:abc: 401 Unauthorized\n");
      later(50, () => setJobCondition(job.metadata.name, "Failed", { failed: 1 }));
    };
    const failure = (await failureOf(revived.create!(await applyRun("serialized-fail"))))!;
    expect(failure.message.startsWith(FAILURE_MESSAGE)).toBe(true);
    expect(failure.message).toContain("401 Unauthorized");
    expect(failure.id).toBe("d8-system/copy-images/serialized-fail");
    expect(failure.properties).toMatchObject({ status: "failed", runId: "serialized-fail" });
    await revived.delete!(failure.id!, failure.properties!);
    clearRunObjects();

    // an API refusal is recognised by the revived code too (by the error's name): at once, with the server's words
    let allow = () => {};
    scenario = () => {
      allow = server.rejectRequests({ method: "GET", kind: "Job" }, 403, "Forbidden", 'jobs.batch "copy-images" is forbidden');
    };
    try {
      const refused = (await failureOf(revived.create!(await applyRun("serialized-rbac"))))!;
      expect(refused.message).toMatch(/^images-copier: cannot read Job d8-system\/copy-images: Kubernetes API GET .*: 403 jobs\.batch "copy-images" is forbidden \(check the credentials/);
    } finally {
      allow();
    }
  } finally {
    logged.mockRestore();
  }
});

test("transient API errors (503) are retried and the run finishes; a lasting outage gives up after a bounded number of tries", async () => {
  let allow = () => {};
  scenario = (job, pod) => {
    allow = server.rejectRequests({ method: "GET", kind: "Job" }, 503, "ServiceUnavailable", "etcd leader changed");
    later(200, () => {
      allow();
      succeedAfterLog(job, pod);
    });
  };
  try {
    const p = await configured(provider([], 5000));
    expect(((await p.create!(await applyRun("blip"))).outs as CopyRunOutputs).status).toBe("succeeded");

    server.put({ apiVersion: "batch/v1", kind: "Job", metadata: { name: "copy-images", namespace: "d8-system" }, spec: {} });
    allow = server.rejectRequests({ method: "GET", kind: "Job" }, 503, "ServiceUnavailable", "etcd leader changed");
    const kube = await connectKube({ kubeconfig: server.kubeconfigYaml });
    try {
      const error = await waitForJob(kube, { namespace: "d8-system", jobName: "copy-images", timeoutMs: 20_000, rewatchDelayMs: 5, maxTransientErrors: 3 }).catch((e: Error) => e);
      expect((error as Error).message).toMatch(/^images-copier: cannot read Job d8-system\/copy-images: .*503 etcd leader changed \(3 attempts in a row failed\)$/);
    } finally {
      await kube.close();
    }
  } finally {
    allow();
  }
});
