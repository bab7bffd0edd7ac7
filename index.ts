// The Pulumi program: validates the stack config once and declares the stage's component. The switch stage is
// declared only after its gate passed (an awaited check, in preview and update alike); a refusal rejects the
// exported promise with one RunError, which Pulumi reports as one line.
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "./stack-config";
import { CopyStage } from "./components/copy/stage";
import { declareSwitchStage } from "./components/switch/stage";

const config = readStackConfig(new pulumi.Config("images-copier"));

export = config.stage === "copy"
  ? new CopyStage("copy", config).outputs
  : declareSwitchStage("switch", config).then((stage) => stage.outputs);
