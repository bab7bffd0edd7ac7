import { copiedDigestState, podsFailingToPull, podsOnOldRegistry, rolloutState } from "../../components/switch/rollout";

const deployment = (status: Record<string, unknown>, image = "new.example.com/d:rs") => ({
  metadata: { generation: 3 },
  spec: { replicas: 1, template: { spec: { containers: [{ name: "deckhouse", image }] } } },
  status,
});

describe("rolloutState", () => {
  it("is done when the new generation is observed, updated and available", () => {
    expect(rolloutState(deployment({ observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }), "new.example.com/d:rs")).toEqual({ done: true });
  });
  it("waits for the controller, old replicas and availability", () => {
    expect(rolloutState(deployment({ observedGeneration: 2 }))).toMatchObject({ done: false, failed: false });
    expect(rolloutState(deployment({ observedGeneration: 3, replicas: 2, updatedReplicas: 1, availableReplicas: 1 }))).toMatchObject({ done: false, reason: expect.stringMatching(/old replicas/) });
    expect(rolloutState(deployment({ observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 0 }))).toMatchObject({ done: false, reason: expect.stringMatching(/available/) });
  });
  it("waits while the deckhouse container has not got the new image", () => {
    const state = rolloutState(deployment({ observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }, "old.example.com/d:rs"), "new.example.com/d:rs");
    expect(state).toMatchObject({ done: false, failed: false, reason: expect.stringMatching(/not yet "new.example.com\/d:rs"/) });
  });
  it("takes the release under its original tag as the new image too", () => {
    const rolled = { observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };
    expect(rolloutState(deployment(rolled, "new.example.com/d:v1.76.2"), "new.example.com/d:rs", "new.example.com/d:v1.76.2")).toEqual({ done: true });
    expect(rolloutState(deployment(rolled, "old.example.com/d:v1.76.2"), "new.example.com/d:rs", "new.example.com/d:v1.76.2")).toMatchObject({
      done: false,
      reason: 'the deckhouse container runs "old.example.com/d:v1.76.2", not yet "new.example.com/d:rs" or "new.example.com/d:v1.76.2"',
    });
  });
  it("fails on ProgressDeadlineExceeded", () => {
    const state = rolloutState(deployment({ observedGeneration: 3, conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "too slow" }] }));
    expect(state).toMatchObject({ done: false, failed: true, reason: expect.stringMatching(/too slow/) });
  });
});

describe("copiedDigestState", () => {
  const image = "new.example.com/d:v1.76.2";
  const copied = `sha256:${"a".repeat(64)}`;
  const pod = (name: string, podImage: string, imageID?: string) => ({
    metadata: { namespace: "d8-system", name },
    spec: { containers: [{ name: "deckhouse", image: podImage }] },
    status: { containerStatuses: [{ name: "deckhouse", image: podImage, ...(imageID ? { imageID } : {}) }] },
  });
  it("is done when a pod on the original tag runs the copied digest; pods on other images do not count", () => {
    expect(copiedDigestState([pod("old", "old.example.com/d:v1.76.2", `old.example.com/d@sha256:${"e".repeat(64)}`), pod("new", image, `docker-pullable://new.example.com/d@${copied}`)], image, copied)).toEqual({ done: true });
  });
  it("waits while no pod on it reports a digest, fails when one runs another digest", () => {
    expect(copiedDigestState([pod("new", image)], image, copied)).toMatchObject({ done: false, failed: false, reason: expect.stringMatching(/reports its image digest yet/) });
    expect(copiedDigestState([pod("new", image, `new.example.com/d@sha256:${"e".repeat(64)}`)], image, copied)).toMatchObject({ done: false, failed: true, reason: `pod d8-system/new runs "${image}" as sha256:${"e".repeat(64)}, not the copied ${copied}` });
  });
});

describe("pods", () => {
  const pods = [
    { metadata: { namespace: "d8-system", name: "b" }, spec: { containers: [{ image: "registry.deckhouse.io/deckhouse/ee@sha256:" + "1".repeat(64) }] } },
    { metadata: { namespace: "app", name: "a" }, spec: { initContainers: [{ image: "registry.deckhouse.io/deckhouse/ee/install:v1" }], containers: [{ image: "nginx:1" }] } },
    { metadata: { namespace: "app", name: "other-path" }, spec: { containers: [{ image: "registry.deckhouse.io/deckhouse/eefoo:v1" }] } },
    { metadata: { namespace: "d8-system", name: "new" }, spec: { containers: [{ image: "new.example.com/d:rs" }] } },
  ];
  it("lists pods with images in the old repository or below it, sorted", () => {
    expect(podsOnOldRegistry(pods, "registry.deckhouse.io/deckhouse/ee").map((p) => `${p.namespace}/${p.name}`)).toEqual(["app/a", "d8-system/b"]);
  });
  it("names pods that cannot pull", () => {
    const stuck = [{ metadata: { namespace: "d8-system", name: "deckhouse-1" }, status: { containerStatuses: [{ name: "deckhouse", image: "new.example.com/d:rs", state: { waiting: { reason: "ImagePullBackOff" } } }] } }];
    expect(podsFailingToPull(stuck)).toEqual(["d8-system/deckhouse-1: new.example.com/d:rs (ImagePullBackOff)"]);
  });
});
