import { captureImages, captureSecret, deploymentRestorePatch, secretRestorePatch, type RollbackState } from "../../components/switch/rollback";

const captureRollback = (images: Parameters<typeof captureImages>[0], data: Record<string, string>, keys: string[]): RollbackState => ({ deployment: captureImages(images), secret: captureSecret(data, keys) });

const OLD = "registry.deckhouse.io/deckhouse/ee";
const images = {
  containers: [{ name: "deckhouse", image: `${OLD}:rock-solid` }, { name: "kube-rbac-proxy", image: `${OLD}:abc` }],
  initContainers: [{ name: "init", image: `${OLD}@sha256:${"b".repeat(64)}` }],
};
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("rollback capture and restore patches", () => {
  const state = captureRollback(images, { ".dockerconfigjson": b64("{}"), address: b64("registry.deckhouse.io"), path: b64("/deckhouse/ee") }, [".dockerconfigjson", "address", "path", "scheme", "ca"]);

  it("captures previous values, null for keys the switch adds", () => {
    expect(state.secret.data).toEqual({ ".dockerconfigjson": b64("{}"), address: b64("registry.deckhouse.io"), path: b64("/deckhouse/ee"), scheme: null, ca: null });
    expect(state.deployment.containers[0]).toEqual({ name: "deckhouse", image: `${OLD}:rock-solid` });
    expect(state.deployment.initContainers).toHaveLength(1);
  });

  it("restores the Secret: old values back, added keys removed", () => {
    expect(secretRestorePatch(state)).toEqual({ data: { ".dockerconfigjson": b64("{}"), address: b64("registry.deckhouse.io"), path: b64("/deckhouse/ee"), scheme: null, ca: null } });
  });

  it("never removes .dockerconfigjson", () => {
    const odd = captureRollback(images, {}, [".dockerconfigjson", "address"]);
    expect(secretRestorePatch(odd).data).toEqual({ address: null });
  });

  it("restores images with the live containers kept whole, guarded by resourceVersion", () => {
    const live = {
      metadata: { resourceVersion: "42" },
      spec: {
        template: {
          spec: {
            containers: [
              { name: "deckhouse", image: "new.example.com/d:rs", env: [{ name: "A", value: "1" }] },
              { name: "kube-rbac-proxy", image: "new.example.com/d:abc" },
              { name: "added-later", image: "x.example.com/y:1" },
            ],
            initContainers: [{ name: "init", image: `${OLD}@sha256:${"b".repeat(64)}` }],
          },
        },
      },
    };
    expect(deploymentRestorePatch(state, live)).toEqual({
      metadata: { resourceVersion: "42" },
      spec: {
        template: {
          spec: {
            containers: [
              { name: "deckhouse", image: `${OLD}:rock-solid`, env: [{ name: "A", value: "1" }] },
              { name: "kube-rbac-proxy", image: `${OLD}:abc` },
              { name: "added-later", image: "x.example.com/y:1" },
            ],
          },
        },
      },
    });
  });

  it("has nothing to restore when the images are already the old ones", () => {
    const live = { metadata: {}, spec: { template: { spec: { containers: images.containers, initContainers: images.initContainers } } } };
    expect(deploymentRestorePatch(state, live)).toBeUndefined();
  });
});
