// The dynamic provider behind CopierBundle: puts the bundled copier into a ConfigMap named by its digest, one of the
// objects of a run of the copier (the copy's run, the switch's check: run-objects.ts). Its inputs are the file's
// path, digest and size, so `pulumi preview` and the diff show which build runs, never 0.5 MB of JavaScript.
// Closure-serialized by Pulumi: npm packages are required inside functions, cluster access comes from `configure`
// (the current stack config) at every call.
import type * as pulumi from "@pulumi/pulumi";
import { apiPath, configuredAccess, connectKube, isKubeStatus, type KubeAccess } from "../kube";
import { deleteOwn } from "../kube/delete-own";
import { BUNDLE_KEY } from "./pod";
import { runObjectMetadata } from "./run-objects";

export interface CopierBundleInputs {
  namespace: string;
  /** bundleConfigMapName of the digest. */
  configMapName: string;
  /** Where the bundle is on the machine that runs `pulumi` (not compared: another checkout is the same bundle). */
  path: string;
  sha256: string;
  bytes: number;
  /** The labels of the run's objects (the stage's). */
  labels: Record<string, string>;
  /** The copy stack's runId; the check has none. */
  runId?: string;
  /** The run key (see runKeyOf) and the uid of the run's Secret: a new run gets a new ConfigMap. */
  runKey: string;
  secretUid: string;
}

export interface CopierBundleOutputs extends CopierBundleInputs {
  /** The ConfigMap's uid: the Job records it, and delete removes only this very object. */
  uid: string;
}

/** Inputs whose change means a new ConfigMap; `path` is left out on purpose. */
const IDENTITY = ["namespace", "configMapName", "sha256", "bytes", "runId", "runKey", "secretUid"] as const;

function configMapPath(namespace: string, name?: string): string {
  return apiPath({ apiVersion: "v1", resource: "configmaps", namespace, name });
}

/** The file's text, only when it is still the build the program saw (a rebuild in between is refused). */
function readVerified(inputs: CopierBundleInputs): string {
  const { readFileSync } = require("node:fs") as typeof import("node:fs");
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  let content: Buffer;
  try {
    content = readFileSync(inputs.path);
  } catch (error) {
    throw new Error(`images-copier: cannot read the copier bundle ${inputs.path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const digest = createHash("sha256").update(content).digest("hex");
  if (digest !== inputs.sha256) {
    throw new Error(`images-copier: the copier bundle ${inputs.path} changed while \`pulumi up\` ran (sha256 ${digest}, expected ${inputs.sha256}); run it again`);
  }
  return content.toString("utf8");
}

export function makeCopierBundleProvider(): pulumi.dynamic.ResourceProvider<CopierBundleInputs, CopierBundleOutputs> & { access: KubeAccess } {
  return {
    ...configuredAccess(),

    async diff(_id: string, olds: CopierBundleOutputs, news: CopierBundleInputs) {
      const replaces = IDENTITY.filter((key) => olds[key] !== news[key]);
      return { changes: replaces.length > 0, replaces: [...replaces], deleteBeforeReplace: true };
    },

    async create(inputs: CopierBundleInputs) {
      const text = readVerified(inputs);
      const kube = await connectKube(this.access);
      try {
        const body = {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: runObjectMetadata(inputs.configMapName, inputs.namespace, inputs.labels, { key: inputs.runKey, id: inputs.runId }),
          immutable: true,
          data: { [BUNDLE_KEY]: text },
        };
        let created: { metadata?: { uid?: string } };
        try {
          created = await kube.create(configMapPath(inputs.namespace), body);
        } catch (error) {
          if (!isKubeStatus(error, 409)) throw error;
          // left behind by an interrupted `pulumi up`: no record owns it, so this run takes its name
          await kube.delete(configMapPath(inputs.namespace, inputs.configMapName));
          created = await kube.create(configMapPath(inputs.namespace), body);
        }
        const uid = created.metadata?.uid;
        if (!uid) throw new Error(`images-copier: the API server returned ConfigMap ${inputs.namespace}/${inputs.configMapName} without a uid`);
        return { id: `${inputs.namespace}/${inputs.configMapName}`, outs: { ...inputs, uid } };
      } finally {
        await kube.close();
      }
    },

    /** `pulumi refresh`: the ConfigMap is gone once a run succeeded (the run deletes it); then so is this record. */
    async read(id: string, props?: CopierBundleOutputs) {
      if (!props) return { id, props };
      const kube = await connectKube(this.access);
      try {
        const live = await kube.get<{ metadata?: { uid?: string } }>(configMapPath(props.namespace, props.configMapName));
        return live?.metadata?.uid === props.uid ? { id, props } : { id: "" };
      } finally {
        await kube.close();
      }
    },

    async delete(_id: string, props: CopierBundleOutputs) {
      const kube = await connectKube(this.access);
      try {
        // a newer ConfigMap of the same name is not this record's
        await deleteOwn(kube, configMapPath(props.namespace, props.configMapName), props.uid);
      } finally {
        await kube.close();
      }
    },
  };
}
