// `images-copier:index:CopierBundle`: the ConfigMap that carries the bundled copier to the Job (see bundle-provider.ts).
import * as pulumi from "@pulumi/pulumi";
import { makeCopierBundleProvider, type CopierBundleInputs } from "./bundle-provider";

const copierBundleProvider = makeCopierBundleProvider();

export class CopierBundle extends pulumi.dynamic.Resource {
  declare readonly configMapName: pulumi.Output<string>;
  declare readonly sha256: pulumi.Output<string>;
  declare readonly uid: pulumi.Output<string>;

  constructor(name: string, args: { [K in keyof CopierBundleInputs]: pulumi.Input<CopierBundleInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(copierBundleProvider, name, { ...args, uid: undefined }, { ...opts, deleteBeforeReplace: true }, undefined, "CopierBundle");
  }
}
