// The Pulumi program: validates the stack config once and declares the stage's component.
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "./stack-config";
import { CopyStage } from "./components/copy/stage";
import { SwitchStage } from "./components/switch/stage";

const config = readStackConfig(new pulumi.Config("images-copier"));

export = config.stage === "copy"
  ? new CopyStage("copy", config).outputs
  : new SwitchStage("switch", config).outputs;
