// The CopyRun dynamic provider's methods against the loopback Kubernetes API test server (TLS, bearer token).
// The test plays the job controller and the kubelet: on a Job's creation it adds the Pod, writes its log and
// finally sets the Job's Complete/Failed condition, as a real cluster would.
import { buildCopyRunManifests } from "../../components/copy/manifests";
import { FAILURE_MESSAGE, makeCopyRunProvider, SUCCESS_MESSAGE, type CopyRunInputs, type CopyRunOutputs } from "../../components/copy/run-provider";
import { waitForJob } from "../../components/copy/job-waiter";
import { connectKube } from "../../components/kube";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../helpers/kube-api-server";
import { serializeAndRevive } from "../helpers/serialized-provider";

const TARGET_PASSWORD = "target-secret-Pa55";
const SOURCE_PASSWORD = "license-key-0123456789";
const RESULT = { status: "succeeded", images: 42, copied: 40, skipped: 2, failed: 0, bytes: 5 * 1024 ** 3, durationMs: 61_500, target: "r.example/d8/ee:t1" };

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
    const pod = `${job.metadata.name}-${Math.random().toString(36).slice(2, 7)}`;
    const uid = job.metadata.uid as string;
    server.put({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: pod,
        namespace: job.metadata.namespace,
        labels: { "job-name": job.metadata.name, "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid },
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: job.metadata.name, uid, controller: true }],
      },
      spec: (job.spec as any).template.spec,
      status: { phase: "Running" },
    });
    scenario(job, pod);
  });
});

afterEach(() => {
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
  for (const kind of ["Job", "Pod", "Secret", "ConfigMap"]) {
    for (const o of server.list(kind === "Job" ? "batch/v1" : "v1", kind, "d8-system")) server.remove(o.apiVersion, kind, "d8-system", o.metadata.name);
  }
});
afterAll(async () => {
  await server?.stop();
});

function inputs(runId = "1", timeoutMinutes = 5, copierBundle: string | null = "console.log('copier')"): CopyRunInputs & { __provider: string } {
  return {
    namespace: "d8-system",
    runId,
    timeoutMinutes,
    manifests: buildCopyRunManifests({
      namespace: "d8-system",
      runId,
      copierImage: "node:20-bookworm-slim",
      deckhouseImage: "registry.deckhouse.io/deckhouse/ee:v1.46.3",
      concurrency: 4,
      target: { username: "robot", password: TARGET_PASSWORD, insecure: false, image: "r.example/d8/ee:t1" },
      source: { username: "license-token", password: SOURCE_PASSWORD, insecure: false, image: "registry.deckhouse.io/deckhouse/ee:v1.46.3" },
      copierBundle: copierBundle ?? undefined, // null: the copier image brings its own copier
    }),
    __provider: "serialized-provider-text",
  };
}

function provider(lines: string[], msPerMinute?: number, stuckGraceMs?: number) {
  const p = makeCopyRunProvider({ log: (line) => lines.push(line), logPollMs: 40, rewatchDelayMs: 20, msPerMinute, stuckGraceMs });
  return p;
}

async function configured(p: ReturnType<typeof makeCopyRunProvider>, kubeconfig = server.kubeconfigYaml) {
  await p.configure!({ config: { get: (k: string) => (k === "kubernetes:kubeconfig" ? kubeconfig : undefined), require: () => "" } });
  return p;
}

const progress = (n: number) => `images-copier progress: images ${n}/42 (copied ${n}, skipped 0, failed 0), 1.20 GiB, 45.3 MiB/s, ETA 3m12s`;

function succeedAfterLog(job: KubeObject, pod: string): void {
  server.setPodLog("d8-system", pod, `${progress(10)}\nsome other line\n`);
  later(150, () => server.appendPodLog("d8-system", pod, `${progress(30)}\n`));
  later(300, () => {
    server.appendPodLog("d8-system", pod, `images-copier result: ${JSON.stringify(RESULT)}\n`);
    setJobCondition(job.metadata.name, "Complete", { succeeded: 1 });
  });
}

function kinds(): string[] {
  return ["Job", "Pod", "Secret", "ConfigMap"].filter((kind) => server.list(kind === "Job" ? "batch/v1" : "v1", kind, "d8-system").length > 0);
}

test("success: Secret, ConfigMap and Job are applied, progress relayed, everything deleted, summary returned", async () => {
  const lines: string[] = [];
  let seenSecret: KubeObject | undefined;
  let deadline: unknown;
  scenario = (job, pod) => {
    seenSecret = server.get("v1", "Secret", "d8-system", "images-copier-config");
    deadline = (job.spec as any).activeDeadlineSeconds;
    succeedAfterLog(job, pod);
  };
  const p = await configured(provider(lines));
  const result = await p.create!(inputs());

  expect(result.id).toBe("d8-system/copy-images/1");
  const outs = result.outs as CopyRunOutputs;
  expect(outs.status).toBe("succeeded");
  expect(outs.message).toBe(SUCCESS_MESSAGE);
  expect(outs.summary).toEqual({ images: 42, copied: 40, skipped: 2, failed: 0, bytes: 5 * 1024 ** 3, bytesHuman: "5.00 GiB", durationSeconds: 61.5, target: "r.example/d8/ee:t1" });
  expect(Object.keys((seenSecret as any).data).sort()).toEqual(["d8-repo.json", "dest-repo.json"]);
  expect(kinds()).toEqual([]);
  expect(deadline).toBe(5 * 60 + 60); // Kubernetes stops the Job a minute after timeoutMinutes
  expect(lines).toContain(progress(10));
  expect(lines).toContain(progress(30));
  expect(lines).not.toContain("some other line");
  expect(lines.filter((l) => l === progress(10))).toHaveLength(1); // polled many times, relayed once
  expect(lines).toContain(SUCCESS_MESSAGE);
  // the Job went away with its Pods (propagation), the orphaning default would have left them
  const jobDelete = server.requests.find((r) => r.method === "DELETE" && r.path.endsWith("/jobs/copy-images"));
  expect(jobDelete?.query.propagationPolicy).toBe("Background");
  expect(lines.join("\n")).not.toContain(TARGET_PASSWORD);
});

test("failure: Job, Pod and Secret are kept and the error carries the log tail; state records the failed run", async () => {
  const lines: string[] = [];
  scenario = (job, pod) => {
    server.setPodLog("d8-system", pod, [progress(5), "images-copier: error: r.example/d8/ee:abc: 401 Unauthorized", `images-copier result: ${JSON.stringify({ ...RESULT, status: "failed", failed: 1 })}`].join("\n") + "\n");
    later(100, () => setJobCondition(job.metadata.name, "Failed", { failed: 1 }));
  };
  const p = await configured(provider(lines));
  const error = (await p.create!(inputs()).catch((e: unknown) => e)) as Error & { id?: string; properties?: Record<string, unknown>; reasons?: string[] };

  expect(error).toBeInstanceOf(Error);
  expect(error.message.startsWith(FAILURE_MESSAGE)).toBe(true);
  expect(error.message).toContain("BackoffLimitExceeded");
  expect(error.message).toContain("images-copier: error: r.example/d8/ee:abc: 401 Unauthorized");
  expect(error.message).not.toContain(TARGET_PASSWORD);
  expect(error.id).toBe("d8-system/copy-images/1");
  expect(error.properties).toMatchObject({ status: "failed", runId: "1", __provider: "serialized-provider-text" });
  expect(error.properties).not.toHaveProperty("manifests"); // the failed run's record carries no credential
  expect(JSON.stringify(error.properties)).not.toContain("dest-repo.json");
  const p2 = provider([]);
  expect(await p2.diff!(error.id!, error.properties as unknown as CopyRunOutputs, inputs())).toMatchObject({ changes: true, replaces: ["manifests"], deleteBeforeReplace: true });
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
  expect(lines).toContain("images-copier: error: r.example/d8/ee:abc: 401 Unauthorized");

  // `pulumi up` again (the engine updates a resource whose creation failed) starts a fresh run
  scenario = succeedAfterLog;
  const oldJobUid = server.get("batch/v1", "Job", "d8-system", "copy-images")?.metadata.uid;
  const rerun = await p.update!(error.id!, error.properties as unknown as CopyRunOutputs, inputs());
  expect(rerun.outs?.status).toBe("succeeded");
  expect(kinds()).toEqual([]);
  expect(server.requests.filter((r) => r.method === "POST" && r.path.endsWith("/jobs")).length).toBeGreaterThanOrEqual(2);
  expect(oldJobUid).toBeDefined();
});

test("a watch that drops mid-wait is re-established and the run still finishes", async () => {
  const lines: string[] = [];
  // The Job completes only after both watches were cut: the run can finish only by watching again after the
  // first cut and looking again (GET, then watch) after the second.
  const dropped = server.dropNextWatches(2);
  scenario = (job, pod) => {
    server.setPodLog("d8-system", pod, `${progress(1)}\n`);
    void dropped.then(() => {
      server.appendPodLog("d8-system", pod, `images-copier result: ${JSON.stringify(RESULT)}\n`);
      setJobCondition(job.metadata.name, "Complete", { succeeded: 1 });
    });
  };
  const before = server.requests.filter((r) => r.query.watch === "1").length;
  const p = await configured(provider(lines));
  const result = await p.create!(inputs("drop"));
  expect((result.outs as CopyRunOutputs).status).toBe("succeeded");
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
  const error = (await p.create!(inputs("slow", 1)).catch((e: unknown) => e)) as Error & { properties?: Record<string, unknown> };
  expect(error.message).toMatch(/^Image copier did not finish within 1 minute \(timeoutMinutes\)/);
  expect(error.message).toContain(progress(2));
  expect(error.properties?.status).toBe("timeout");
  expect(lines.filter((l) => l.includes("container copier is waiting: ImagePullBackOff: Back-off pulling image"))).toHaveLength(1);
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
});

test("read keeps the recorded outcome without touching the cluster; update after success starts nothing", async () => {
  const p = await configured(provider([]));
  const recorded = { ...inputs(), status: "succeeded", message: SUCCESS_MESSAGE, finishedAt: "2026-01-01T00:00:00.000Z", summary: { images: 1 } } as unknown as CopyRunOutputs;
  const count = server.requests.length;
  expect(await p.read!("d8-system/copy-images/1", recorded)).toEqual({ id: "d8-system/copy-images/1", props: recorded });
  const updated = await p.update!("d8-system/copy-images/1", recorded, { ...inputs(), timeoutMinutes: 99 });
  expect(updated.outs).toMatchObject({ status: "succeeded", timeoutMinutes: 99, summary: { images: 1 }, finishedAt: "2026-01-01T00:00:00.000Z" });
  expect(server.requests.length).toBe(count);
});

test("diff: nothing changed means no run; runId or the rendered objects replace (delete first); a failed run updates", async () => {
  const p = provider([]);
  const done = { ...inputs(), status: "succeeded" } as unknown as CopyRunOutputs;
  expect(await p.diff!("id", done, inputs())).toEqual({ changes: false, replaces: [], deleteBeforeReplace: true });
  expect(await p.diff!("id", done, inputs("2"))).toMatchObject({ changes: true, replaces: expect.arrayContaining(["runId", "manifests"]), deleteBeforeReplace: true });
  const otherPassword = inputs();
  (otherPassword.manifests.secret.data as Record<string, string>)["dest-repo.json"] = Buffer.from("{}").toString("base64");
  expect((await p.diff!("id", done, otherPassword)).replaces).toEqual(["manifests"]);
  expect(await p.diff!("id", done, { ...inputs(), timeoutMinutes: 7 })).toMatchObject({ changes: true, replaces: [] });
  expect(await p.diff!("id", { ...done, status: "failed" }, inputs())).toMatchObject({ changes: true, replaces: [] });
});

test("delete removes whatever is left: Job (with its Pods), Secret and ConfigMap", async () => {
  scenario = (job) => later(50, () => setJobCondition(job.metadata.name, "Failed"));
  const p = await configured(provider([]));
  const error = (await p.create!(inputs()).catch((e: unknown) => e)) as { properties: CopyRunOutputs };
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
  await p.delete!("d8-system/copy-images/1", error.properties);
  expect(kinds()).toEqual([]);
  await p.delete!("d8-system/copy-images/1", error.properties); // nothing left: still fine
});

test("serialized like the engine does it: no credentials in the text, and the evaluated provider works", async () => {
  const p = provider([]);
  const serialized = await serializeAndRevive(p);
  expect(serialized.containsSecrets).toBe(false);
  for (const secret of [server.token, TARGET_PASSWORD, SOURCE_PASSWORD]) expect(serialized.text).not.toContain(secret);
  const revived = serialized.provider;
  await configured(revived);
  scenario = succeedAfterLog;
  const result = await revived.create!(inputs("serialized"));
  expect((result.outs as CopyRunOutputs).summary?.images).toBe(42);
  expect(kinds()).toEqual([]);
});

test("a Job the API server refuses (admission 403): the Secret and ConfigMap created for it are removed", async () => {
  const allow = server.rejectRequests({ method: "POST", kind: "Job" }, 403, "Forbidden", 'admission webhook "policy.example" denied the request: image not allowed');
  try {
    const p = await configured(provider([]));
    const error = (await p.create!(inputs()).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(
      'images-copier: could not start Job d8-system/copy-images: Kubernetes API POST /apis/batch/v1/namespaces/d8-system/jobs: 403 admission webhook "policy.example" denied the request: image not allowed; the Secret and ConfigMap created for it were removed',
    );
    expect(kinds()).toEqual([]);
    expect(server.requests.some((r) => r.method === "POST" && r.path.endsWith("/secrets"))).toBe(true);
  } finally {
    allow();
  }
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
  const error = (await p.create!(inputs("stuck", 10)).catch((e: unknown) => e)) as Error & { id?: string; properties?: Record<string, unknown> };
  expect(error.message.startsWith(FAILURE_MESSAGE)).toBe(true);
  expect(error.message).toContain(`pod ${podName}: container copier (image node:20-bookworm-slim) has been waiting for 0s: ImagePullBackOff: Back-off pulling image`);
  expect(error.properties?.status).toBe("failed");
  expect(error.id).toBe("d8-system/copy-images/stuck");
  expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]); // kept for inspection
});

test("RBAC refusing to read the Job fails at once with a clear message; the run is recorded so destroy cleans up", async () => {
  let allow = () => {};
  scenario = () => {
    allow = server.rejectRequests({ method: "GET", kind: "Job" }, 403, "Forbidden", 'jobs.batch "copy-images" is forbidden: User "robot" cannot get resource "jobs"');
  };
  try {
    const p = await configured(provider([], 5000)); // a 5-"minute" (25 s) timeout that must not be reached
    const error = (await p.create!(inputs("rbac")).catch((e: unknown) => e)) as Error & { id?: string; properties?: CopyRunOutputs };
    expect(error.message).toMatch(/^images-copier: cannot read Job d8-system\/copy-images: Kubernetes API GET .*: 403 jobs\.batch "copy-images" is forbidden: .* \(check the credentials and RBAC of the Kubernetes account in use\)/);
    expect(error.id).toBe("d8-system/copy-images/rbac");
    expect(kinds().sort()).toEqual(["ConfigMap", "Job", "Pod", "Secret"]);
    allow();
    await p.delete!(error.id!, error.properties!);
    expect(kinds()).toEqual([]);
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
  const error = (await p.create!(inputs("malformed")).catch((e: unknown) => e)) as Error;
  expect(error.message).toMatch(/^images-copier: unexpected Job from the Kubernetes API: status\.conditions\.0\.status: /);
});

test("copierBundled: no ConfigMap is created, the Job runs the image's own copier, the run succeeds", async () => {
  let volumes: Array<{ name: string }> = [];
  scenario = (job, pod) => {
    volumes = (job.spec as any).template.spec.volumes;
    succeedAfterLog(job, pod);
  };
  const p = await configured(provider([]));
  const before = server.requests.length;
  const result = await p.create!(inputs("bundled", 5, null));
  expect((result.outs as CopyRunOutputs).status).toBe("succeeded");
  expect(volumes.map((v) => v.name)).not.toContain("copier");
  expect(server.requests.slice(before).some((r) => r.method === "POST" && r.path.endsWith("/configmaps"))).toBe(false);
});

test("diff after success: a rebuilt copier bundle alone updates in place (no new copy); a failed run still re-runs", async () => {
  const p = await configured(provider([]));
  const done = { ...inputs(), status: "succeeded", message: SUCCESS_MESSAGE, finishedAt: "2026-01-01T00:00:00.000Z" } as unknown as CopyRunOutputs;
  const rebuilt = inputs();
  rebuilt.manifests.configMap!.data = { "images-copier.cjs": "console.log('copier v2')" };
  expect(await p.diff!("id", done, rebuilt)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: true });
  const count = server.requests.length;
  const updated = await p.update!("id", done, rebuilt);
  expect(updated.outs).toMatchObject({ status: "succeeded", finishedAt: "2026-01-01T00:00:00.000Z" });
  expect((updated.outs as CopyRunOutputs).manifests.configMap?.data).toEqual({ "images-copier.cjs": "console.log('copier v2')" });
  expect(server.requests.length).toBe(count); // nothing ran
  // anything else in the manifests still replaces, and so does switching to the bundled image
  const otherImage = inputs();
  otherImage.manifests.job.spec!.template.spec!.containers[0].image = "node:22";
  expect((await p.diff!("id", done, otherImage)).replaces).toEqual(["manifests"]);
  expect((await p.diff!("id", done, inputs("1", 5, null))).replaces).toEqual(["manifests"]);
  expect((await p.diff!("id", { ...done, status: "failed" }, rebuilt)).replaces).toEqual(["manifests"]);
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
    expect(((await p.create!(inputs("blip"))).outs as CopyRunOutputs).status).toBe("succeeded");

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

test("if removing the Secret after a refused Job fails too, the run is recorded (with its id) so destroy removes it", async () => {
  const undo: Array<() => void> = [];
  let armed = true;
  server.onCreate("Secret", () => {
    if (!armed) return;
    armed = false;
    undo.push(server.rejectRequests({ method: "DELETE", kind: "Secret" }, 500, "InternalError", "etcdserver: request timed out"));
  });
  undo.push(server.rejectRequests({ method: "POST", kind: "Job" }, 422, "Invalid", "spec.template.spec.containers[0].image: Required value"));
  try {
    const p = await configured(provider([]));
    const error = (await p.create!(inputs("leak")).catch((e: unknown) => e)) as Error & { id?: string; properties?: CopyRunOutputs };
    expect(error.message).toMatch(/^images-copier: could not start Job d8-system\/copy-images: .*422 spec\.template.*; removing the Secret images-copier-config created for it failed too \(.*500 etcdserver: request timed out\): run `pulumi destroy`/);
    expect(error.id).toBe("d8-system/copy-images/leak");
    expect(error.properties).not.toHaveProperty("manifests");
    expect(kinds()).toContain("Secret");
    for (const allow of undo.splice(0)) allow();
    await p.delete!(error.id!, error.properties!);
    expect(kinds()).toEqual([]);
  } finally {
    armed = false;
    for (const allow of undo) allow();
  }
});
