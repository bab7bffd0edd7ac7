// The run's objects as data: the Secret's data, the Job, the run key that ties Secret, ConfigMap and Job together,
// the proxy variables split between them, and the pull Secret for a copier image in the target registry.
import { splitProxyEnv } from "../../components/copier-job/proxy-env";
import { buildPullSecretData } from "../../components/copier-job/pull-secret";
import { runKeyOf, withRunObjects } from "../../components/copier-job/run-objects";
import { buildCopyJob, buildSecretData, type CopyJobSpec } from "../../components/copy/manifests";

const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

const spec: CopyJobSpec = {
  namespace: "d8-system",
  runId: "1",
  copierImage: "node:20-bookworm-slim",
  deckhouseImage: "registry.deckhouse.io/deckhouse/ee:v1.58.3",
  concurrency: 8,
  timeoutMinutes: 360,
  imagesInSecret: false,
  bundleConfigMap: "images-copier-bundle-0123456789ab",
};

test("the run key: the same Job gives the same key, whatever the key order; any change of the Job another", () => {
  const key = runKeyOf(buildCopyJob(spec));
  expect(key).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(runKeyOf(buildCopyJob({ ...spec }))).toBe(key);
  const reordered = JSON.parse(JSON.stringify(buildCopyJob(spec)), (_k, v) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v));
  expect(runKeyOf(reordered)).toBe(key);
  const changes: Array<Partial<CopyJobSpec>> = [
    { runId: "2" },
    { copierImage: "node:22" },
    { deckhouseImage: "registry.deckhouse.io/deckhouse/ee:v1.58.4" },
    { concurrency: 4 },
    { timeoutMinutes: 30 },
    { imagesInSecret: true },
    { bundleConfigMap: "images-copier-bundle-ffffffffffff" },
    { bundleConfigMap: undefined },
    { withUpdateImages: true },
    { uploadChunkMiB: 50 },
    { pullSecret: "images-copier-registry" },
    { proxyEnv: [{ name: "HTTPS_PROXY", valueFrom: { secretKeyRef: { name: "images-copier-config", key: "proxy.HTTPS_PROXY" } } }] },
  ];
  const keys = changes.map((change) => runKeyOf(buildCopyJob({ ...spec, ...change })));
  expect(new Set([key, ...keys]).size).toBe(changes.length + 1);
});

test("withRunObjects adds the run key and the objects' uids, and leaves the rest of the Job as it was", () => {
  const base = buildCopyJob(spec);
  const before = JSON.stringify(base);
  const job = withRunObjects(base, { runKey: "sha256:k", secretUid: "s-uid", bundleUid: "b-uid" });
  expect(JSON.stringify(base)).toBe(before);
  expect(job.metadata?.annotations?.["images-copier.deckhouse.io/run-key"]).toBe("sha256:k");
  expect(job.spec?.template.metadata?.annotations).toEqual({ "images-copier.deckhouse.io/run-id": "1", "images-copier.deckhouse.io/config-uid": "s-uid", "images-copier.deckhouse.io/bundle-uid": "b-uid" });
  expect({ ...job.spec, template: { ...job.spec!.template, metadata: undefined } }).toEqual({ ...base.spec, template: { ...base.spec!.template, metadata: undefined } });
  expect(withRunObjects(base, { runKey: "k", secretUid: "s" }).spec?.template.metadata?.annotations).not.toHaveProperty("images-copier.deckhouse.io/bundle-uid");
});

test("the Secret holds the hook's files and the proxy values; /config gets only the files", () => {
  const data = buildSecretData({
    target: { username: "u", password: 'p"w', insecure: false, image: "r.example/d/ee:t" },
    source: { insecure: false, image: spec.deckhouseImage },
    images: { common: { a: "t1" } },
    proxyValues: { "proxy.HTTPS_PROXY": "http://u:pw@proxy:3128" },
  });
  expect(Object.keys(data).sort()).toEqual(["d8-images.json", "d8-repo.json", "dest-repo.json", "proxy.HTTPS_PROXY"]);
  expect(JSON.parse(unb64(data["dest-repo.json"]))).toEqual({ username: "u", password: 'p"w', insecure: false, image: "r.example/d/ee:t" });
  expect(unb64(data["proxy.HTTPS_PROXY"])).toBe("http://u:pw@proxy:3128");
  const volume = buildCopyJob({ ...spec, imagesInSecret: true }).spec!.template.spec!.volumes![0];
  expect(volume.secret?.items?.map((i) => i.key)).toEqual(["dest-repo.json", "d8-repo.json", "d8-images.json"]);
});

test("proxy variables: literal values move into the Secret, references stay; the Job's env holds no value", () => {
  const { jobEnv, secretValues } = splitProxyEnv(
    [
      { name: "HTTPS_PROXY", value: "http://user:secret@proxy:3128" },
      { name: "no_proxy", value: "" },
      { name: "HTTP_PROXY", valueFrom: { secretKeyRef: { name: "cluster-proxy", key: "url" } } },
    ],
    "images-copier-config",
  );
  expect(secretValues).toEqual({ "proxy.HTTPS_PROXY": "http://user:secret@proxy:3128", "proxy.no_proxy": "" });
  expect(jobEnv).toEqual([
    { name: "HTTPS_PROXY", valueFrom: { secretKeyRef: { name: "images-copier-config", key: "proxy.HTTPS_PROXY" } } },
    { name: "no_proxy", valueFrom: { secretKeyRef: { name: "images-copier-config", key: "proxy.no_proxy" } } },
    { name: "HTTP_PROXY", valueFrom: { secretKeyRef: { name: "cluster-proxy", key: "url" } } },
  ]);
  expect(JSON.stringify(jobEnv)).not.toContain("secret@");
});

test("the pull Secret: kubelet's dockerconfigjson for the target registry's host; the Job pulls with it and deckhouse-registry", () => {
  const password = 'p:a"ss:word';
  const data = buildPullSecretData({ image: "registry.customer.example:5443/deckhouse/ee:rock-solid", username: "robot", password });
  expect(Object.keys(data)).toEqual([".dockerconfigjson"]);
  const auths = JSON.parse(unb64(data[".dockerconfigjson"])).auths;
  expect(auths).toEqual({ "registry.customer.example:5443": { username: "robot", password, auth: expect.any(String) } });
  // `auth` is base64 of user:password; split on the first colon it gives the password back, `:` and `"` included
  const auth = unb64(auths["registry.customer.example:5443"].auth);
  expect([auth.slice(0, auth.indexOf(":")), auth.slice(auth.indexOf(":") + 1)]).toEqual(["robot", password]);

  const job = buildCopyJob({ ...spec, pullSecret: "images-copier-registry" });
  expect(job.spec!.template.spec!.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }, { name: "images-copier-registry" }]);
  expect(buildCopyJob(spec).spec!.template.spec!.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }]);
  const annotations = withRunObjects(job, { runKey: "sha256:k", secretUid: "s-uid", pullSecretUid: "p-uid" }).spec!.template.metadata!.annotations;
  expect(annotations).toMatchObject({ "images-copier.deckhouse.io/config-uid": "s-uid", "images-copier.deckhouse.io/pull-secret-uid": "p-uid" });
});
