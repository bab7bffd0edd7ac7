// Which Deckhouse release runs, and whether it still runs Deckhouse's own images-copier hook (before v1.51).
import { KubeApiError } from "../../components/kube";
import { findDeckhouseRelease, parseDeckhouseVersion, requireReleaseWithoutHook, runsImagesCopierHook, type ReleaseSignals } from "../../components/copy/release-check";

const CHANNEL_IMAGE = "registry.deckhouse.io/deckhouse/ee:rock-solid";

function signals(overrides: Partial<ReleaseSignals> = {}): ReleaseSignals & { listed: () => number } {
  let calls = 0;
  const list = overrides.listReleases ?? (async () => []);
  return {
    image: CHANNEL_IMAGE,
    ...overrides,
    listReleases: () => {
      calls++;
      return list();
    },
    listed: () => calls,
  };
}

test("versions as Deckhouse writes them; channel names, dev and unknown are not versions", () => {
  expect(parseDeckhouseVersion("v1.46.3")).toEqual({ major: 1, minor: 46, text: "v1.46.3" });
  expect(parseDeckhouseVersion("v1.58.0-alpha.1\n")).toEqual({ major: 1, minor: 58, text: "v1.58.0-alpha.1" });
  expect(parseDeckhouseVersion("1.51")).toEqual({ major: 1, minor: 51, text: "1.51" });
  for (const text of ["unknown", "dev", "rock-solid", "main", "", "v1", "v1.x.0", undefined]) expect(parseDeckhouseVersion(text)).toBeUndefined();
});

test("the hook is in every release before v1.51 and in none after", () => {
  const hook = (text: string) => runsImagesCopierHook(parseDeckhouseVersion(text)!);
  expect([hook("v1.24.17"), hook("v1.46.3"), hook("v1.50.9"), hook("v0.9.0")]).toEqual([true, true, true, true]);
  expect([hook("v1.51.0"), hook("v1.51.0-beta.1"), hook("v1.72.1"), hook("v2.0.0")]).toEqual([false, false, false, false]);
});

test("the annotation decides when it names a version; the cluster's releases are not even listed then", async () => {
  const s = signals({ annotation: "v1.60.4", image: "registry.deckhouse.io/deckhouse/ee:v1.45.0", configured: "v1.40.0" });
  expect(await requireReleaseWithoutHook(s)).toEqual({ version: "v1.60.4", source: "annotation core.deckhouse.io/version of d8-system/deckhouse" });
  expect(s.listed()).toBe(0);
});

test("then the Deployed DeckhouseRelease (the highest, should there be several), then a version tag, then the stack's word", async () => {
  const releases = async () => [
    { spec: { version: "v1.61.2" }, status: { phase: "Deployed" } },
    { spec: { version: "v1.62.0" }, status: { phase: "Deployed" } },
    { spec: { version: "v1.63.0" }, status: { phase: "Pending" } },
    { spec: {}, status: { phase: "Deployed" } },
  ];
  expect(await findDeckhouseRelease(signals({ annotation: "unknown", listReleases: releases }))).toMatchObject({ version: "v1.62.0", source: "the Deployed DeckhouseRelease" });
  expect(await findDeckhouseRelease(signals({ annotation: "dev", image: "registry.deckhouse.io/deckhouse/ee:v1.52.1" }))).toMatchObject({ version: "v1.52.1", source: "the tag of the deckhouse image registry.deckhouse.io/deckhouse/ee:v1.52.1" });
  expect(await findDeckhouseRelease(signals({ configured: "v1.55.0" }))).toMatchObject({ version: "v1.55.0", source: "the stack's deckhouseVersion (the cluster does not say)" });
});

test("a cluster without DeckhouseReleases (404) or one that forbids listing them (403): the refusal says which", async () => {
  const missing = signals({ listReleases: async () => Promise.reject(new KubeApiError("GET", "/apis/deckhouse.io/v1alpha1/deckhousereleases", 404, "the server could not find the requested resource")) });
  await expect(findDeckhouseRelease(missing)).rejects.toThrow(/cannot tell which Deckhouse release runs \(d8-system\/deckhouse has no core\.deckhouse\.io\/version annotation; no DeckhouseRelease resource; the image tag "rock-solid" is not a version\)/);
  const forbidden = signals({ annotation: "unknown", image: `registry.deckhouse.io/deckhouse/ee@sha256:${"a".repeat(64)}`, listReleases: async () => Promise.reject(new KubeApiError("GET", "/apis/deckhouse.io/v1alpha1/deckhousereleases", 403, "deckhousereleases.deckhouse.io is forbidden")) });
  await expect(findDeckhouseRelease(forbidden)).rejects.toThrow(
    /core\.deckhouse\.io\/version is "unknown"; DeckhouseReleases could not be listed \(Kubernetes API GET .*: 403 deckhousereleases\.deckhouse\.io is forbidden\); the image has no tag\)/,
  );
});

test("a pre-v1.51 release is refused, whichever signal named it", async () => {
  await expect(requireReleaseWithoutHook(signals({ annotation: "v1.46.3" }))).rejects.toThrow(
    "images-copier: refusing to copy: Deckhouse v1.46.3 (annotation core.deckhouse.io/version of d8-system/deckhouse) still runs its own images-copier hook",
  );
  await expect(requireReleaseWithoutHook(signals({ configured: "v1.49.0" }))).rejects.toThrow(/Deckhouse v1\.49\.0 \(the stack's deckhouseVersion/);
});
