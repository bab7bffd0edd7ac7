import { deploymentImages, oldRepository, planImageChanges, referencesToCheck, repointImage, repositoryFromSecret } from "../../components/switch/images";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const OLD_REPO = { registry: "registry.deckhouse.io", repository: "deckhouse/ee" };
const DIGEST = `sha256:${"a".repeat(64)}`;
const TAG = `${"c".repeat(56)}-1650502544870`;

describe("repointImage", () => {
  const target = { registry: "registry.example.com:5000", repository: "mirror/deckhouse" };
  it("keeps a digest", () => {
    expect(repointImage(`${OLD}@${DIGEST}`, OLD_REPO, target)).toBe(`registry.example.com:5000/mirror/deckhouse@${DIGEST}`);
  });
  it("keeps a tag", () => {
    expect(repointImage(`${OLD}:${TAG}`, OLD_REPO, target)).toBe(`registry.example.com:5000/mirror/deckhouse:${TAG}`);
  });
  it("prefers the digest when both are present", () => {
    expect(repointImage(`${OLD}:v1@${DIGEST}`, OLD_REPO, target)).toBe(`registry.example.com:5000/mirror/deckhouse@${DIGEST}`);
  });
  it("maps the dev sub-repository to the target repository and keeps other sub-paths", () => {
    expect(repointImage(`${OLD}/dev:${TAG}`, OLD_REPO, target)).toBe(`registry.example.com:5000/mirror/deckhouse:${TAG}`);
    expect(repointImage(`${OLD}/install:v1`, OLD_REPO, target)).toBe("registry.example.com:5000/mirror/deckhouse/install:v1");
  });
  it("leaves images outside the old repository alone", () => {
    expect(repointImage("docker.io/istio/proxyv2:1.19", OLD_REPO, target)).toBeUndefined();
    expect(repointImage("nginx", OLD_REPO, target)).toBeUndefined();
    expect(repointImage("registry.deckhouse.io/deckhouse/eefoo:v1", OLD_REPO, target)).toBeUndefined();
    expect(repointImage("registry.deckhouse.io/deckhouse/ce:v1", OLD_REPO, target)).toBeUndefined();
    expect(repointImage("not a reference", OLD_REPO, target)).toBeUndefined();
  });
  it("never invents a tag: an old-repository image without tag or digest is an error", () => {
    expect(() => repointImage(OLD, OLD_REPO, target)).toThrow(`image "${OLD}" is in the old registry repository but has neither a tag nor a digest`);
  });
});

describe("oldRepository", () => {
  const images = { containers: [{ name: "deckhouse", image: `${OLD}/dev:pr123` }], initContainers: [] };
  it("takes the Secret's address and path (leading slash or not)", () => {
    expect(oldRepository(images, repositoryFromSecret("mirror.example.com:5000", "/d8/ee"))).toEqual({ registry: "mirror.example.com:5000", repository: "d8/ee" });
    expect(oldRepository(images, repositoryFromSecret(" mirror.example.com ", "d8/ee/"))).toEqual({ registry: "mirror.example.com", repository: "d8/ee" });
  });
  it("falls back to the deckhouse image's repository with /dev stripped", () => {
    expect(repositoryFromSecret("", "/deckhouse/ee")).toBeUndefined();
    expect(repositoryFromSecret("registry.deckhouse.io", "")).toBeUndefined();
    expect(oldRepository(images, undefined)).toEqual(OLD_REPO);
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
    const changes = planImageChanges(deploymentImages(deployment), "registry.example.com/client/deckhouse:rock-solid-1.46", OLD_REPO);
    expect(changes).toEqual([
      { kind: "initContainer", name: "init-downloaded-modules", from: `${OLD}@${DIGEST}`, to: `registry.example.com/client/deckhouse@${DIGEST}` },
      { kind: "container", name: "deckhouse", from: `${OLD}:rock-solid`, to: "registry.example.com/client/deckhouse:rock-solid-1.46" },
      { kind: "container", name: "kube-rbac-proxy", from: `${OLD}:${TAG}`, to: `registry.example.com/client/deckhouse:${TAG}` },
    ]);
    expect(referencesToCheck(changes)).toHaveLength(3);
  });

  it("leaves third-party images out of the changes and out of the existence check", () => {
    const mixed = structuredClone(deployment) as any;
    mixed.spec.template.spec.containers.push({ name: "istio-proxy", image: "docker.io/istio/proxyv2:1.19.0" }, { name: "untagged", image: "busybox" });
    mixed.spec.template.spec.initContainers.push({ name: "vault-init", image: "quay.io/vault/agent@" + DIGEST });
    const changes = planImageChanges(deploymentImages(mixed), "registry.example.com/client/deckhouse:t", OLD_REPO);
    expect(changes.map((c) => c.name)).toEqual(["init-downloaded-modules", "deckhouse", "kube-rbac-proxy"]);
    expect(referencesToCheck(changes).every((r) => r.startsWith("registry.example.com/client/deckhouse"))).toBe(true);
  });

  it("gives targetImage to any container running the Deckhouse image itself (its tag is the renamed one)", () => {
    const same = structuredClone(deployment) as any;
    same.spec.template.spec.initContainers = [{ name: "init-downloaded-modules", image: `${OLD}/dev:rock-solid` }];
    same.spec.template.spec.containers[0].image = `${OLD}/dev:rock-solid`;
    const changes = planImageChanges(deploymentImages(same), "registry.example.com/client/deckhouse:rs-1", OLD_REPO);
    expect(changes.filter((c) => c.name !== "kube-rbac-proxy").map((c) => c.to)).toEqual(["registry.example.com/client/deckhouse:rs-1", "registry.example.com/client/deckhouse:rs-1"]);
  });

  it("refuses an untagged image in the old repository, naming the container", () => {
    const untagged = structuredClone(deployment) as any;
    untagged.spec.template.spec.containers.push({ name: "sidecar", image: OLD });
    expect(() => planImageChanges(deploymentImages(untagged), "registry.example.com/client/deckhouse:t", OLD_REPO)).toThrow(/container "sidecar": image ".*" is in the old registry repository but has neither a tag nor a digest/);
  });

  it("keeps every re-pointed container in the plan on a later run, when old and target are the same", () => {
    const switched = { containers: [{ name: "deckhouse", image: "registry.example.com/client/deckhouse:t" }, { name: "kube-rbac-proxy", image: `registry.example.com/client/deckhouse:${TAG}` }], initContainers: [] };
    const changes = planImageChanges(switched, "registry.example.com/client/deckhouse:t", { registry: "registry.example.com", repository: "client/deckhouse" });
    expect(changes.map((c) => [c.name, c.from === c.to])).toEqual([["deckhouse", true], ["kube-rbac-proxy", true]]);
  });

  it("checks each distinct reference once", () => {
    const twice = structuredClone(deployment);
    twice.spec.template.spec.containers.push({ name: "sidecar", image: `${OLD}:${TAG}` });
    const refs = referencesToCheck(planImageChanges(deploymentImages(twice), "registry.example.com/client/deckhouse:t", OLD_REPO));
    expect(refs.filter((r) => r.endsWith(TAG))).toHaveLength(1);
  });

  it("refuses a Deployment without a deckhouse container", () => {
    const other = { spec: { template: { spec: { containers: [{ name: "app", image: `${OLD}:x` }] } } } };
    expect(() => planImageChanges(deploymentImages(other), "r.example.com/d:t", OLD_REPO)).toThrow(/no container named "deckhouse".*app/);
  });

  it("refuses an object that is not a Deployment", () => {
    expect(() => deploymentImages({ spec: {} })).toThrow(/no usable pod template \(spec.template/);
  });
});
