// Where the copier's pods run: jobNodeSelector, jobTolerations, jobPriorityClassName and unschedulableMinutes read
// from the stack config (JSON-valued keys), refused in one line naming the bad value, and applied to the copy Job's
// and the switch's check Job's pod.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describePlacement, podPlacementOf } from "../../components/copier-job/pod";
import { buildCopyJob } from "../../components/copy/manifests";
import { buildCheckRun } from "../../components/switch/check-job";
import { readStackConfig, type CopyStageConfig } from "../../stack-config";

const base: Record<string, string> = { stage: "copy", targetImage: "r.example/d8/ee:t1", targetUsername: "u", targetPassword: "p" };
const read = (extra: Record<string, string>) => readStackConfig({ get: (key) => ({ ...base, ...extra })[key] }) as CopyStageConfig;
const refusal = (extra: Record<string, string>) => {
  try {
    read(extra);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("accepted");
};

const SET = {
  jobNodeSelector: '{"node-role.deckhouse.io/system":""}',
  jobTolerations: '[{"key":"dedicated.deckhouse.io","operator":"Equal","value":"system","effect":"NoExecute"},{"operator":"Exists"}]',
  jobPriorityClassName: "copier-high",
  unschedulableMinutes: "3",
};

test("Pulumi.yaml declares the keys; unset, the pods carry no placement and wait 5 minutes for a node", () => {
  const { loadYaml } = require("@kubernetes/client-node") as { loadYaml(text: string): { config: Record<string, { default?: unknown }> } };
  const declared = loadYaml(readFileSync(join(__dirname, "../../Pulumi.yaml"), "utf8")).config;
  expect(Object.fromEntries(["jobNodeSelector", "jobTolerations", "jobPriorityClassName", "unschedulableMinutes"].map((k) => [k, declared[k]?.default]))).toEqual({
    jobNodeSelector: "",
    jobTolerations: "",
    jobPriorityClassName: "",
    unschedulableMinutes: 5,
  });
  const config = read({ jobNodeSelector: "", jobTolerations: "", jobPriorityClassName: "", unschedulableMinutes: "5" });
  expect(podPlacementOf(config)).toBeUndefined();
  expect(config.unschedulableMinutes).toBe(5);
  expect(describePlacement(undefined, "the copy Job", 5)).toBe(
    "images-copier: the copy Job's pod: no nodeSelector, tolerations or priorityClassName (jobNodeSelector, jobTolerations, jobPriorityClassName); the run fails when the scheduler cannot place it for 5 minutes (unschedulableMinutes)",
  );
});

test("set, they reach the copy Job's and the check Job's pod, and the preview line names them", () => {
  const config = read(SET);
  const placement = podPlacementOf(config);
  const expected = {
    nodeSelector: { "node-role.deckhouse.io/system": "" },
    tolerations: [{ key: "dedicated.deckhouse.io", operator: "Equal", value: "system", effect: "NoExecute" }, { operator: "Exists" }],
    priorityClassName: "copier-high",
  };
  expect(placement).toEqual(expected);
  expect(config.unschedulableMinutes).toBe(3);
  const copyJob = buildCopyJob({ namespace: "d8-system", runId: "1", copierImage: "node:20", deckhouseImage: "r/d:1", concurrency: 4, timeoutMinutes: 10, imagesInSecret: true, placement });
  expect(copyJob.spec!.template.spec).toMatchObject(expected);
  const check = buildCheckRun({
    namespace: "d8-system",
    expectations: { references: ["r.example/d8/ee:t1"], targetImage: "r.example/d8/ee:t1", sourceDigest: `sha256:${"1".repeat(64)}` },
    copierImage: "node:20",
    pullFromTarget: false,
    target: { username: "u", password: "p", insecure: false, image: "r.example/d8/ee:t1" },
    proxyEnv: [],
    timeoutSeconds: 60,
    placement,
  });
  expect(check.job.spec!.template.spec).toMatchObject(expected);
  // part of what the run is: another placement is another run
  const unplaced = buildCopyJob({ namespace: "d8-system", runId: "1", copierImage: "node:20", deckhouseImage: "r/d:1", concurrency: 4, timeoutMinutes: 10, imagesInSecret: true });
  expect(unplaced.spec!.template.spec).not.toHaveProperty("tolerations");
  expect(describePlacement(placement, "the copy Job", 3)).toBe(
    `images-copier: the copy Job's pod: nodeSelector {"node-role.deckhouse.io/system":""}, tolerations [{"key":"dedicated.deckhouse.io","operator":"Equal","value":"system","effect":"NoExecute"},{"operator":"Exists"}], priorityClassName copier-high; the run fails when the scheduler cannot place it for 3 minutes (unschedulableMinutes)`,
  );
});

test.each([
  [{ jobTolerations: "[oops" }, 'images-copier: jobTolerations is not JSON: [oops (e.g. [{"key":"dedicated.deckhouse.io","operator":"Exists"}])'],
  [{ jobTolerations: '{"key":"a"}' }, 'images-copier: jobTolerations must be a JSON list of tolerations, not {"key":"a"}'],
  [{ jobTolerations: '[{"key":"a","effect":"NoSchedul"}]' }, 'images-copier:jobTolerations.0.effect: toleration effect "NoSchedul" must be NoSchedule, PreferNoSchedule or NoExecute'],
  [{ jobTolerations: '[{"key":"a","operator":"Exists","value":"x"}]' }, 'images-copier:jobTolerations.0: toleration {"key":"a","operator":"Exists","value":"x"}: operator Exists takes no value'],
  [{ jobTolerations: '[{"kee":"a"}]' }, 'images-copier:jobTolerations.0: unknown toleration field(s) kee in {"kee":"a"} (known: key, operator, value, effect, tolerationSeconds)'],
  [{ jobNodeSelector: '{"bad key!":"x"}' }, 'images-copier:jobNodeSelector.bad key!: jobNodeSelector: "bad key!" is not a label key'],
  [{ jobNodeSelector: '{"a":1}' }, "images-copier:jobNodeSelector.a: jobNodeSelector: the value 1 must be a string"],
  [{ jobNodeSelector: '["a"]' }, 'images-copier: jobNodeSelector must be a JSON object of label key to value, not ["a"]'],
  [{ jobPriorityClassName: "Bad_Name" }, 'images-copier: jobPriorityClassName "Bad_Name" is not a PriorityClass name'],
  [{ unschedulableMinutes: "0" }, "images-copier: unschedulableMinutes 0 must be at least 1 (minutes)"],
])("refused in one line naming the value: %j", (extra, message) => {
  expect(refusal(extra)).toBe(message);
});
