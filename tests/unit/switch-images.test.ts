import { deploymentImages, planImageChanges, referencesToCheck, repointImage } from "../../components/switch-images";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const DIGEST = `sha256:${"a".repeat(64)}`;
const TAG = `${"c".repeat(56)}-1650502544870`;

describe("repointImage", () => {
  const target = { registry: "registry.example.com:5000", repository: "mirror/deckhouse" };
  it("keeps a digest", () => {
    expect(repointImage(`${OLD}@${DIGEST}`, target)).toBe(`registry.example.com:5000/mirror/deckhouse@${DIGEST}`);
  });
  it("keeps a tag", () => {
    expect(repointImage(`${OLD}:${TAG}`, target)).toBe(`registry.example.com:5000/mirror/deckhouse:${TAG}`);
  });
  it("prefers the digest when both are present", () => {
    expect(repointImage(`${OLD}:v1@${DIGEST}`, target)).toBe(`registry.example.com:5000/mirror/deckhouse@${DIGEST}`);
  });
});

describe("planImageChanges", () => {
  const deployment = {
    spec: {
      template: {
        spec: {
          initContainers: [{ name: "init-downloaded-modules", image: `${OLD}@${DIGEST}`, command: ["x"] }],
          containers: [
            { name: "deckhouse", image: `${OLD}:rock-solid` },
            { name: "kube-rbac-proxy", image: `${OLD}:${TAG}` },
          ],
        },
      },
    },
  };

  it("gives deckhouse the target image and re-points the others with the same tag or digest", () => {
    const changes = planImageChanges(deploymentImages(deployment), "registry.example.com/client/deckhouse:rock-solid-1.46");
    expect(changes).toEqual([
      { kind: "initContainer", name: "init-downloaded-modules", from: `${OLD}@${DIGEST}`, to: `registry.example.com/client/deckhouse@${DIGEST}` },
      { kind: "container", name: "deckhouse", from: `${OLD}:rock-solid`, to: "registry.example.com/client/deckhouse:rock-solid-1.46" },
      { kind: "container", name: "kube-rbac-proxy", from: `${OLD}:${TAG}`, to: `registry.example.com/client/deckhouse:${TAG}` },
    ]);
    expect(referencesToCheck(changes)).toHaveLength(3);
  });

  it("checks each distinct reference once", () => {
    const twice = structuredClone(deployment);
    twice.spec.template.spec.containers.push({ name: "sidecar", image: `${OLD}:${TAG}` });
    const refs = referencesToCheck(planImageChanges(deploymentImages(twice), "registry.example.com/client/deckhouse:t"));
    expect(refs.filter((r) => r.endsWith(TAG))).toHaveLength(1);
  });

  it("refuses a Deployment without a deckhouse container", () => {
    const other = { spec: { template: { spec: { containers: [{ name: "app", image: `${OLD}:x` }] } } } };
    expect(() => planImageChanges(deploymentImages(other), "r.example.com/d:t")).toThrow(/no container named "deckhouse".*app/);
  });

  it("refuses an object that is not a Deployment", () => {
    expect(() => deploymentImages({ spec: {} })).toThrow(/no usable pod template \(spec.template/);
  });
});
