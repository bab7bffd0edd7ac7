// The opt-in update images: which sub-repository tags are planned, and how a tag absent in the source is told
// apart from a real failure.
import { Executor } from "../../copier/execute";
import { planUpdateImages, RELEASE_CHANNELS, type ImageJob } from "../../copier/plan";
import { Pool } from "../../copier/pool";
import { ProgressTracker } from "../../copier/progress";
import { formatReference } from "../../copier/reference";
import type { RepositoryClient } from "../../copier/registry/client";
import { RegistryError } from "../../copier/registry/errors";
import { DEFAULT_RETRY } from "../../copier/transport/retry";

const DIGEST = `sha256:${"c".repeat(64)}`;
const refs = (jobs: ImageJob[]) => jobs.map((j) => `${formatReference(j.source)} -> ${formatReference(j.target)}`);

describe("planUpdateImages", () => {
  test("every release channel and the installer of the running tag, from the module repository to the target repository", () => {
    const jobs = planUpdateImages("registry.deckhouse.io/deckhouse/ee:v1.46.3", "registry.customer.example:5000/mirror/d8:rock-solid-1.46");
    expect(refs(jobs)).toEqual([
      "registry.deckhouse.io/deckhouse/ee/release-channel:alpha -> registry.customer.example:5000/mirror/d8/release-channel:alpha",
      "registry.deckhouse.io/deckhouse/ee/release-channel:beta -> registry.customer.example:5000/mirror/d8/release-channel:beta",
      "registry.deckhouse.io/deckhouse/ee/release-channel:early-access -> registry.customer.example:5000/mirror/d8/release-channel:early-access",
      "registry.deckhouse.io/deckhouse/ee/release-channel:stable -> registry.customer.example:5000/mirror/d8/release-channel:stable",
      "registry.deckhouse.io/deckhouse/ee/release-channel:rock-solid -> registry.customer.example:5000/mirror/d8/release-channel:rock-solid",
      // the installer keeps the SOURCE tag, not the target's renamed one
      "registry.deckhouse.io/deckhouse/ee/install:v1.46.3 -> registry.customer.example:5000/mirror/d8/install:v1.46.3",
    ]);
    expect(jobs.every((j) => j.optional === true)).toBe(true);
    expect(RELEASE_CHANNELS).toHaveLength(5);
  });

  test("a dev build: the sub-repositories hang off the module repository (trailing /dev stripped)", () => {
    const jobs = planUpdateImages("registry.deckhouse.io/deckhouse/ee/dev:pr1234", "r.example/d8:t");
    expect(refs(jobs)).toContain("registry.deckhouse.io/deckhouse/ee/release-channel:stable -> r.example/d8/release-channel:stable");
    expect(refs(jobs)).toContain("registry.deckhouse.io/deckhouse/ee/install:pr1234 -> r.example/d8/install:pr1234");
  });

  test("a digest-only Deckhouse image: channels only, no installer", () => {
    const jobs = planUpdateImages(`registry.deckhouse.io/deckhouse/ee@${DIGEST}`, "r.example/d8:t");
    expect(jobs.map((j) => j.source.repository)).toEqual(Array(5).fill("deckhouse/ee/release-channel"));
    expect(jobs.map((j) => j.target.tag)).toEqual([...RELEASE_CHANNELS]);
  });

  test("a target without a tag is refused as for the release", () => {
    expect(() => planUpdateImages("registry.deckhouse.io/deckhouse/ee:v1", "r.example/d8")).toThrow(/tag/);
  });
});

describe("an update image the source lacks", () => {
  function executorFailingWith(err: Error) {
    const client = (repository: string) =>
      ({
        repository,
        name: `src.example/${repository}`,
        getManifest: async () => {
          throw err;
        },
        headManifest: async () => undefined,
      }) as unknown as RepositoryClient;
    const progress = new ProgressTracker();
    const executor = new Executor({ pool: new Pool(2), progress, retry: DEFAULT_RETRY, source: client, target: client, sameRegistry: false, dryRun: false, log: () => undefined });
    return { executor, progress };
  }
  const [channelJob] = planUpdateImages("src.example/deckhouse/ee:v1.46.3", "dst.example/d8:t");

  test.each([
    ["MANIFEST_UNKNOWN", ["MANIFEST_UNKNOWN"]],
    ["NAME_UNKNOWN", ["NAME_UNKNOWN"]],
  ])("404 %s: reported as absent with the reason, counted as done but not failed", async (_, codes) => {
    const { executor, progress } = executorFailingWith(new RegistryError(`manifest src.example/deckhouse/ee/release-channel:alpha: 404 (${codes[0]})`, 404, codes));
    const result = await executor.copyImage(channelJob);
    expect(result).toMatchObject({ status: "absent", source: "src.example/deckhouse/ee/release-channel:alpha", target: "dst.example/d8/release-channel:alpha" });
    expect(result.reason).toContain(codes[0]);
    expect(progress.snapshot()).toMatchObject({ failed: 0, imagesDone: 1 });
  });

  test("any other error is a failure", async () => {
    for (const err of [new RegistryError("x: 500 (internal server error)", 500), new RegistryError("x: 403 (forbidden)", 403, ["DENIED"]), new Error("socket hang up")]) {
      const { executor, progress } = executorFailingWith(err);
      expect((await executor.copyImage(channelJob)).status).toBe("failed");
      expect(progress.snapshot().failed).toBe(1);
    }
  });

  test("a 404 from the TARGET (e.g. a registry without that repository: NAME_UNKNOWN on push) stays a failure", async () => {
    const present = (repository: string) =>
      ({
        repository,
        name: `src.example/${repository}`,
        getManifest: async () => ({ bytes: Buffer.from("{}"), contentType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${"0".repeat(64)}` }),
        headManifest: async () => {
          throw new RegistryError("dst.example/d8/release-channel: 404 (NAME_UNKNOWN)", 404, ["NAME_UNKNOWN"]);
        },
      }) as unknown as RepositoryClient;
    const executor = new Executor({ pool: new Pool(2), progress: new ProgressTracker(), retry: DEFAULT_RETRY, source: present, target: present, sameRegistry: false, dryRun: false, log: () => undefined });
    const result = await executor.copyImage(channelJob);
    expect(result.status).toBe("failed");
    expect(result.reason).toContain("NAME_UNKNOWN");
  });

  test("a 404 on a release image (not optional) stays a failure", async () => {
    const { executor } = executorFailingWith(new RegistryError("x: 404 (MANIFEST_UNKNOWN)", 404, ["MANIFEST_UNKNOWN"]));
    expect((await executor.copyImage({ source: channelJob.source, target: channelJob.target })).status).toBe("failed");
  });
});
