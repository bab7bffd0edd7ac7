// The Pulumi program: validates the stack config once and declares the stage's component.
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig, type StackConfig } from "./stack-config";
import { oneLineError } from "./components/one-line-error";
import { declareCopyStage } from "./components/copy/stage";
import { declareSwitchStage } from "./components/switch/stage";

function stackConfig(): StackConfig {
  try {
    return readStackConfig(new pulumi.Config("images-copier"));
  } catch (error) {
    // bad config is reported like a refusal: its message alone, without the stack the runtime would inspect
    throw oneLineError(error, "images-copier: ");
  }
}

const config = stackConfig();

// Each stage reads and checks before it declares anything (in preview and update alike): a refusal rejects the
// exported promise with one RunError, which Pulumi reports as one line, and nothing is created.
export = config.stage === "copy"
  ? declareCopyStage("copy", config).then((stage) => stage.outputs)
  : declareSwitchStage("switch", config).then((stage) => stage.outputs);
