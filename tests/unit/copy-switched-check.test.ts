import { requireNotSwitched } from "../../components/copy/switched-check";

const TARGET = "registry.customer.example:5000/d8/ee:switched";

describe("requireNotSwitched: the copy stack refuses a cluster already on the target", () => {
  it("refuses a Deckhouse image in the target repository, under any tag, a digest or its /dev repository", () => {
    for (const image of ["registry.customer.example:5000/d8/ee:switched", "registry.customer.example:5000/d8/ee:v1.76.2", `registry.customer.example:5000/d8/ee@sha256:${"a".repeat(64)}`, "registry.customer.example:5000/d8/ee/dev:pr1"]) {
      expect(() => requireNotSwitched(TARGET, { deckhouseImage: image })).toThrow(`images-copier: refusing to copy: Deckhouse already runs "${image}" from the target repository registry.customer.example:5000/d8/ee;`);
    }
  });
  it("refuses a ModuleConfig whose imagesRepo is the target repository (a trailing slash or spaces do not hide it)", () => {
    expect(() => requireNotSwitched(TARGET, { deckhouseImage: "registry.d8-system.svc:5001/system/deckhouse:v1.75.3", imagesRepo: " registry.customer.example:5000/d8/ee/ " })).toThrow(
      /^images-copier: refusing to copy: ModuleConfig deckhouse already has imagesRepo " registry.customer.example:5000\/d8\/ee\/ ", the target repository; the cluster was switched already;/,
    );
  });
  it("lets a cluster on the vendor's registry (or another path of the same registry) through", () => {
    expect(() => requireNotSwitched(TARGET, { deckhouseImage: "registry.deckhouse.io/deckhouse/ee:v1.76.2" })).not.toThrow();
    expect(() => requireNotSwitched(TARGET, { deckhouseImage: "registry.customer.example:5000/d8/ee/mirror:v1", imagesRepo: "registry.customer.example:5000/d8" })).not.toThrow();
    expect(() => requireNotSwitched(TARGET, { deckhouseImage: "registry.d8-system.svc:5001/system/deckhouse:v1.75.3", imagesRepo: "registry.deckhouse.io/deckhouse/ee" })).not.toThrow();
  });
});
