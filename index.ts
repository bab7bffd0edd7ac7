// The Pulumi program: validates the stack config once and declares the stage's component.
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "./stack-config";
import { declareCopyStage } from "./components/copy/stage";
import { SwitchStage } from "./components/switch/stage";

const config = readStackConfig(new pulumi.Config("images-copier"));

// The copy stage reads and checks before it declares anything: a refusal is one RunError, nothing created.
export = config.stage === "copy"
  ? declareCopyStage("copy", config).then((stage) => stage.outputs)
  : new SwitchStage("switch", config).outputs;
