// The copy stack with the copier's own image in the customer's registry (the zero-Docker path), under the real
// Pulumi runtime: index.ts run by cmd/run, CopyRun in the real dynamic-provider host, driven by the suite's engine
// stand-in (its step logic and Kubernetes provider are simulations; the Kubernetes API test server is not a
// cluster). The target is a real registry (TLS, basic auth); the image is published into it by the real
// `publish-image` on a small base made here. The test plays the node: it pulls the Job's image with the pod's
// imagePullSecrets through skopeo and runs the copier unpacked from it, between real registries.
import { createHash } from "node:crypto";
import { appendFileSync, copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { copyRecordSchema } from "../../components/copy-record";
import { SUCCESS_MESSAGE } from "../../components/copy/run-provider";
import { ensureBundle } from "../helpers/bundle";
import { publishCopierImage, pushSmallBase } from "../helpers/copier-image";
import { removeDir, tempDir, verifyCopiedRelease } from "../helpers/copy-fixture";
import { startCopyKubelet, type CopyKubelet } from "../helpers/copy-kubelet";
import { deckhouseDeployment } from "../helpers/deckhouse-deployment";
import { deckhouseRegistrySecret } from "../helpers/deckhouse-registry-secret";
import { pullImage } from "../helpers/image-pull";
import { seedRelease, type SeededRelease } from "../helpers/images";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kube-api-server";
import { addStackOperator } from "../helpers/kube-api/stack-operator";
import { findPlaintextSecrets, isSecret, opOf, plainOutputs, PulumiEngine, type RunResult } from "../helpers/pulumi-engine";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { skopeoConfig, skopeoManifestDigest, skopeoRaw } from "../helpers/skopeo";

const ROOT = join(__dirname, "..", "..");
const TARGET_USER = "robot";
const TARGET_PASSWORD = 'cust:pub"Pa55';
const TARGET_REPO = "customer/deckhouse";
const COPIER_REPO = "tools/images-copier";
const COPIER_TAG = "0.1.0";
const PULL_SECRET = "images-copier-registry";

let kube: KubeApiServer;
let source: TestRegistry;
let target: TestRegistry;
let release: SeededRelease;
let kubelet: CopyKubelet;
let work: string;
let bundle: string;
let pinned: string;
let engine: PulumiEngine;
let sensitive: string[];

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const sha256File = (file: string) => `sha256:${createHash("sha256").update(readFileSync(file)).digest("hex")}`;

beforeAll(async () => {
  [kube, source, target, bundle] = await Promise.all([
    startKubeApiServer(),
    startRegistry({ tls: true, auth: "token", password: 'd8:src"pw' }),
    startRegistry({ tls: true, auth: "basic", username: TARGET_USER, password: TARGET_PASSWORD }),
    ensureBundle(),
  ]);
  work = tempDir("copy-stack-published");
  // a copy of the bundle: the scenario republishes a changed one
  copyFileSync(bundle, join(work, "images-copier.cjs"));
  bundle = join(work, "images-copier.cjs");
  release = await seedRelease(source, "deckhouse/ee", { tagged: 2, digestOnly: 1, multiArch: 1, deckhouseTag: "v1.58.3", seed: "copy-stack-published" });
  await pushSmallBase(target, "mirror/node", "20-bookworm-slim", work);
  pinned = await publishCopierImage(target, { target: `${COPIER_REPO}:${COPIER_TAG}`, base: "mirror/node:20-bookworm-slim", bundle });

  kubelet = startCopyKubelet(kube, { work, releaseImages: () => release.images, pullImages: { certDir: target.caDir } });
  kube.put(deckhouseRegistrySecret({ host: source.host, username: source.username as string, password: source.password as string, ca: source.caPem }));
  kube.put(deckhouseDeployment({ containers: [{ name: "deckhouse", image: release.deckhouseImage }], annotations: { "core.deckhouse.io/version": "v1.58.3" } }) as never);
  const operatorToken = addStackOperator(kube, "copy-stack");
  engine = new PulumiEngine({
    programDir: ROOT,
    stack: "customer-b-copy",
    kube,
    // a pull that fails leaves the pod in ErrImagePull, which CopyRun gives 5 minutes: end the run before jest does
    timeoutMs: 90_000,
    config: {
      stage: "copy",
      targetImage: target.ref(`${TARGET_REPO}:rock-solid-1.58`),
      targetUsername: TARGET_USER,
      targetPassword: { secret: TARGET_PASSWORD },
      targetCA: target.caPem as string,
      copierImage: target.ref(`${COPIER_REPO}:${COPIER_TAG}`),
      // exactly the copy stack's RBAC rules (docs/permissions/copy-stack.yaml)
      "kubernetes:kubeconfig": { secret: kube.kubeconfigFor(operatorToken) },
    },
  });
  // the target password as itself, base64, and as the `auth` of a dockerconfigjson (base64 of user:password)
  sensitive = [TARGET_PASSWORD, b64(TARGET_PASSWORD), `${TARGET_USER}:${TARGET_PASSWORD}`, b64(`${TARGET_USER}:${TARGET_PASSWORD}`), source.password as string, kube.token, operatorToken];
});

afterAll(async () => {
  kubelet?.stop();
  await Promise.all([kube?.stop(), source?.stop(), target?.stop()]);
  removeDir(work);
});

const registered = (r: RunResult, name: string) => r.messages.find((m) => m.rpc === "RegisterResource" && m.name === name)?.payload as any;
const runObjects = () =>
  [...["Secret", "ConfigMap", "Pod"].flatMap((kind) => kube.list("v1", kind, "d8-system").filter((o) => o.metadata.name !== "deckhouse-registry")), ...kube.list("batch/v1", "Job", "d8-system")]
    .map((o) => `${o.kind} ${o.metadata.name}`)
    .sort();
const noPlaintext = (r: RunResult) => expect(findPlaintextSecrets(r, sensitive)).toEqual([]);
const copierLine = (r: RunResult) => r.diagnostics.map((d) => d.message).find((m) => m.startsWith("images-copier: the Job runs "));

test("a copierImage tag the target registry lacks: preview refuses in one line naming it and saying to run publish-image", async () => {
  const missing = target.ref(`${COPIER_REPO}:9.9.9`);
  engine.setConfig({ copierImage: missing });
  const preview = await engine.preview();
  engine.setConfig({ copierImage: target.ref(`${COPIER_REPO}:${COPIER_TAG}`) });
  const refusal = `images-copier: copierImage ${missing} is not in the target registry; publish it there first: npx images-copier publish-image --target ${missing} (then set copierImage to the reference it prints, or keep the tag)`;
  expect(preview.error).toBe(refusal);
  expect(preview.errorDetail).toBe(refusal);
  expect(preview.steps.map((s) => s.type)).toEqual(["pulumi:pulumi:Stack"]);
  expect(runObjects()).toEqual([]);
  noPlaintext(preview);
});

test("preview: the Job's image pinned to the published digest, a pull Secret with secret data, no ConfigMap; the plan says why", async () => {
  const digest = await skopeoManifestDigest(target, `${COPIER_REPO}:${COPIER_TAG}`);
  expect(pinned).toBe(target.ref(`${COPIER_REPO}@${digest}`));

  const preview = await engine.preview();
  expect(preview.error).toBeUndefined();
  for (const name of ["images-copier-config", PULL_SECRET, "copy-images", "copy-run"]) expect(opOf(preview, name)).toBe("create");
  expect(opOf(preview, "copier-bundle")).toBeUndefined();
  const pull = registered(preview, PULL_SECRET);
  expect(pull.type).toBe("kubernetes.io/dockerconfigjson");
  expect(isSecret(pull.data)).toBe(true);
  const pod = registered(preview, "copy-images").spec.template.spec;
  expect(pod.containers[0].image).toBe(pinned);
  expect(pod.imagePullSecrets).toEqual([{ name: "deckhouse-registry" }, { name: PULL_SECRET }]);
  expect(pod.volumes.map((v: { name: string }) => v.name)).toEqual(["config", "tmp", "images"]);
  expect(plainOutputs(preview).copierImage).toEqual({
    image: pinned,
    configured: target.ref(`${COPIER_REPO}:${COPIER_TAG}`),
    copier: "image-label",
    bundleDigest: sha256File(bundle),
    version: expect.any(String),
    pullSecret: PULL_SECRET,
  });
  expect(copierLine(preview)).toContain(`the Job runs ${pinned} (${target.ref(`${COPIER_REPO}:${COPIER_TAG}`)} pinned by digest) with the image's own copier`);
  expect(runObjects()).toEqual([]);
  noPlaintext(preview);
});

test("up: the node pulls the pinned image with the pull Secret, the image's copier runs; success removes the pull Secret with the run", async () => {
  const up = await engine.up();
  expect({ error: up.error, pullErrors: kubelet.pullErrors }).toEqual({ error: undefined, pullErrors: [] });
  // the pull had the target's credentials only through the run's pull Secret (deckhouse-registry holds the source's)
  expect(kubelet.pulls).toEqual([{ image: pinned, credentialHosts: [source.host, target.host] }]);
  const anonymous = pullImage(pinned, [], { dir: join(work, "anonymous-pull"), certDir: target.caDir });
  await expect(anonymous).rejects.toThrow(/unauthorized|authentication required/i);

  expect(up.diagnostics.map((d) => d.message)).toContain(SUCCESS_MESSAGE);
  expect(copyRecordSchema.parse(plainOutputs(up).copy)).toMatchObject({ status: "succeeded", verified: true, sourceDigest: release.deckhouseDigest });
  expect((await verifyCopiedRelease(target, TARGET_REPO, `${TARGET_REPO}:rock-solid-1.58`, release)).problems).toEqual([]);
  // Job, Pods, Secret and pull Secret: all gone after the success
  expect(runObjects()).toEqual([]);
  expect(up.state.resources.find((r) => r.name === PULL_SECRET)?.outputs.type).toBe("kubernetes.io/dockerconfigjson");
  noPlaintext(up);
});

test("the tag republished with another copier: the next up pins the new digest and runs again with it", async () => {
  appendFileSync(bundle, "\n// a newer copier build\n");
  const republished = await publishCopierImage(target, { target: `${COPIER_REPO}:${COPIER_TAG}`, base: "mirror/node:20-bookworm-slim", bundle });
  expect(republished).not.toBe(pinned);
  const index = JSON.parse((await skopeoRaw(target, `${COPIER_REPO}:${COPIER_TAG}`)).toString("utf8")) as { manifests: Array<{ digest: string }> };
  const config = JSON.parse((await skopeoConfig(target, `${COPIER_REPO}@${index.manifests[0].digest}`)).toString("utf8"));
  expect(config.config.Labels["io.deckhouse.images-copier.bundle-digest"]).toBe(sha256File(bundle));

  const up = await engine.up();
  expect({ error: up.error, pullErrors: kubelet.pullErrors }).toEqual({ error: undefined, pullErrors: [] });
  for (const name of ["images-copier-config", PULL_SECRET, "copy-images", "copy-run"]) expect(opOf(up, name)).toBe("replace");
  expect(registered(up, "copy-images").spec.template.spec.containers[0].image).toBe(republished);
  expect(kubelet.pulls.map((p) => p.image)).toEqual([pinned, republished]);
  expect(plainOutputs(up).copierImage).toMatchObject({ image: republished, bundleDigest: sha256File(bundle) });
  expect(copyRecordSchema.parse(plainOutputs(up).copy)).toMatchObject({ status: "succeeded", copied: 0 });
  expect(runObjects()).toEqual([]);
  noPlaintext(up);
});

test("destroy: nothing of the stack is left", async () => {
  const destroy = await engine.destroy();
  expect(destroy.error).toBeUndefined();
  expect(destroy.state.resources).toEqual([]);
  expect(runObjects()).toEqual([]);
  noPlaintext(destroy);
});
