import { deploymentImages, planImageChanges, referencesToCheck, repointImage, type PodTemplateImages } from "../../components/switch/images";

const OLD = "registry.deckhouse.io/deckhouse/ee";
const OLD_REPO = { registry: "registry.deckhouse.io", repository: "deckhouse/ee" };
const DIGEST = `sha256:${"a".repeat(64)}`;
const TAG = `${"c".repeat(56)}-1650502544870`;
const SOURCE_IMAGE = `${OLD}:rock-solid`;

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
    expect(() => repointImage(OLD, OLD_REPO, target)).toThrow(`image "${OLD}" is in the registry repository ${OLD} but has neither a tag nor a digest`);
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
    const changes = planImageChanges(deploymentImages(deployment), "registry.example.com/client/deckhouse:rock-solid-1.46", OLD_REPO, SOURCE_IMAGE);
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
    const changes = planImageChanges(deploymentImages(mixed), "registry.example.com/client/deckhouse:t", OLD_REPO, SOURCE_IMAGE);
    expect(changes.map((c) => c.name)).toEqual(["init-downloaded-modules", "deckhouse", "kube-rbac-proxy"]);
    expect(referencesToCheck(changes).every((r) => r.startsWith("registry.example.com/client/deckhouse"))).toBe(true);
  });

  it("gives targetImage to any container running the Deckhouse image itself (its tag is the renamed one)", () => {
    const same = structuredClone(deployment) as any;
    same.spec.template.spec.initContainers = [{ name: "init-downloaded-modules", image: `${OLD}/dev:rock-solid` }];
    same.spec.template.spec.containers[0].image = `${OLD}/dev:rock-solid`;
    const changes = planImageChanges(deploymentImages(same), "registry.example.com/client/deckhouse:rs-1", OLD_REPO, `${OLD}/dev:rock-solid`);
    expect(changes.filter((c) => c.name !== "kube-rbac-proxy").map((c) => c.to)).toEqual(["registry.example.com/client/deckhouse:rs-1", "registry.example.com/client/deckhouse:rs-1"]);
  });

  it("refuses an untagged image in the old repository, naming the container", () => {
    const untagged = structuredClone(deployment) as any;
    untagged.spec.template.spec.containers.push({ name: "sidecar", image: OLD });
    expect(() => planImageChanges(deploymentImages(untagged), "registry.example.com/client/deckhouse:t", OLD_REPO, SOURCE_IMAGE)).toThrow(/container "sidecar": image ".*" is in the registry repository registry\.deckhouse\.io\/deckhouse\/ee but has neither a tag nor a digest/);
  });

  const TARGET = "registry.example.com/client/deckhouse:rock-solid-1.46";
  const NEW = "registry.example.com/client/deckhouse";
  const planFor = (images: PodTemplateImages) => planImageChanges(images, TARGET, OLD_REPO, SOURCE_IMAGE);
  const before = () => deploymentImages(deployment);

  it("gives the same plan from every half-state of a switch: none, some or all containers re-pointed", () => {
    const expected = planFor(before());
    const partly = before();
    partly.containers[1].image = `${NEW}:${TAG}`; // kube-rbac-proxy already moved, deckhouse not yet
    const deckhouseOnly = before();
    deckhouseOnly.containers[0].image = TARGET;
    const all: PodTemplateImages = {
      initContainers: [{ name: "init-downloaded-modules", image: `${NEW}@${DIGEST}` }],
      containers: [{ name: "deckhouse", image: TARGET }, { name: "kube-rbac-proxy", image: `${NEW}:${TAG}` }],
    };
    for (const state of [partly, deckhouseOnly, all]) expect(planFor(state)).toEqual(expected);
  });

  it("still gives an init container on the copied Deckhouse image the target image once the deckhouse container moved", () => {
    const images: PodTemplateImages = { initContainers: [{ name: "init", image: SOURCE_IMAGE }], containers: [{ name: "deckhouse", image: TARGET }] };
    expect(planFor(images)).toEqual([
      { kind: "initContainer", name: "init", from: SOURCE_IMAGE, to: TARGET },
      { kind: "container", name: "deckhouse", from: SOURCE_IMAGE, to: TARGET },
    ]);
  });

  it("tells the repositories apart when the target lies below the source (the deeper one wins)", () => {
    const images: PodTemplateImages = { initContainers: [], containers: [{ name: "deckhouse", image: SOURCE_IMAGE }, { name: "proxy", image: `${OLD}/customer:${TAG}` }] };
    const changes = planImageChanges(images, `${OLD}/customer:rs`, OLD_REPO, SOURCE_IMAGE);
    expect(changes[1]).toEqual({ kind: "container", name: "proxy", from: `${OLD}:${TAG}`, to: `${OLD}/customer:${TAG}` });
  });

  it("checks each distinct reference once", () => {
    const twice = structuredClone(deployment);
    twice.spec.template.spec.containers.push({ name: "sidecar", image: `${OLD}:${TAG}` });
    const refs = referencesToCheck(planImageChanges(deploymentImages(twice), "registry.example.com/client/deckhouse:t", OLD_REPO, SOURCE_IMAGE));
    expect(refs.filter((r) => r.endsWith(TAG))).toHaveLength(1);
  });

  it("refuses a Deployment without a deckhouse container", () => {
    const other = { spec: { template: { spec: { containers: [{ name: "app", image: `${OLD}:x` }] } } } };
    expect(() => planImageChanges(deploymentImages(other), "r.example.com/d:t", OLD_REPO, SOURCE_IMAGE)).toThrow(/no container named "deckhouse".*app/);
  });

  it("refuses an object that is not a Deployment", () => {
    expect(() => deploymentImages({ spec: {} })).toThrow(/no usable pod template \(spec.template/);
  });
});
