// A Pulumi engine stand-in for tests: the program runs for real under the Node language runtime (`cmd/run`),
// every dynamic resource goes through the real dynamic-provider host, Kubernetes resources go through a stand-in of
// the Kubernetes provider to the Kubernetes API test server's REST API (with their provider's kubeconfig), and a
// small in-memory state carries over between runs. A test is a sequence:
//
//   const engine = new PulumiEngine({ programDir, kube, config: { stage: "copy", targetPassword: { secret: "pw" } } });
//   const preview = await engine.preview();   // steps, outputs, diagnostics, error, state, messages
//   await engine.up(); await engine.up(); engine.setConfig({ runId: "2" }); await engine.up();
//   await engine.refresh(); await engine.destroy();
//   expect(findPlaintextSecrets([preview, up], ["pw"])).toEqual([]);
//
// What is real and what is simulated: see docs/testing.md.
import type { KubeApiServer } from "../kube-api-server";
import { providerResourceProvider, stackReferenceProvider, type StackOutputsFixture } from "./builtin-providers";
import { Deployment, destroyState, refreshState, type ProviderLookup } from "./deployment";
import { DynamicProviderHost } from "./dynamic-host";
import { dynamicProvider, isDynamicType } from "./dynamic-provider";
import type { EngineProvider } from "./engine-provider";
import { connectProviderConfig } from "./kube-connection";
import { kubernetesProvider } from "./kubernetes-provider";
import { startMonitorServer, type Diagnostic, type InvokeHandler, type ReceivedMessage } from "./monitor-server";
import { runProgram } from "./program-runner";
import { readProject, resolveConfig, qualifiedKey, type ConfigValue, type PulumiProject } from "./project-config";
import { clone, isSecret, secret, stripSecrets, type PropertyMap } from "./property-values";
import { emptyState, type ResourceState, type StackState, type Step, type StepOp } from "./state";

export type { ConfigValue } from "./project-config";
export type { Diagnostic, ReceivedMessage } from "./monitor-server";
export type { ResourceState, StackState, Step, StepOp } from "./state";
export type { StackOutputsFixture } from "./builtin-providers";
export { isSecret, SECRET_SIG, SIG_KEY, stripSecrets, UNKNOWN } from "./property-values";
export { findPlaintextSecrets, type SecretFinding } from "./secret-scan";

export interface PulumiEngineOptions {
  /** The directory holding Pulumi.yaml (the program's root and the dynamic-provider host's working directory). */
  programDir: string;
  stack?: string;
  organization?: string;
  /** The stack's config; keys without a namespace belong to the project. */
  config?: Record<string, ConfigValue>;
  /** The Kubernetes API test server of the scenario (kept for the tests' own use: `kubernetes:*` resources reach a
   *  cluster only through their provider's kubeconfig, as with the real provider). */
  kube?: KubeApiServer;
  /** Outputs of the stacks a StackReference may name (by the full name the program passes). */
  stackReferences?: Record<string, StackOutputsFixture>;
  invoke?: InvokeHandler;
  /** Type-check the program (ts-node's checker, about 3x slower); transpile-only by default. */
  typeCheck?: boolean;
  /**
   * Added to the environment of the program and the provider host (undefined removes a variable). They start from
   * this process's environment without PULUMI_* and KUBECONFIG, so the machine's own settings never leak in.
   */
  env?: Record<string, string | undefined>;
  /** Bound on the program's run (its registrations wait for their steps). Default 180 s; then it is killed. */
  timeoutMs?: number;
  parallel?: number;
}

export type RunMode = "preview" | "up" | "refresh" | "destroy";

export interface RunResult {
  mode: RunMode;
  steps: Step[];
  /** The provider operations in the order they ran (`create <name>`, `delete <name>`, ...; up only). */
  operations?: string[];
  /** The stack's outputs as the engine holds them (secret-marked values stay wrapped; see stripSecrets). */
  outputs: PropertyMap;
  diagnostics: Diagnostic[];
  /** The first failure, one line (a step's provider error, or the program's own error). */
  error?: string;
  /** That failure's whole text (a provider error may carry a log tail on later lines). */
  errorDetail?: string;
  /** The state after the run (a preview leaves it unchanged). */
  state: StackState;
  /** Everything the engine received from the program in this run. */
  messages: ReceivedMessage[];
}

const ANSI = /\u001b\[[0-9;]*m/g;

/** The line that says what went wrong in an SDK error report ("Running program … failed …:" then the error). */
function errorLine(message: string): string {
  const lines = message.replace(ANSI, "").split("\n").map((l) => l.trim()).filter(Boolean);
  const first = lines[0] ?? message;
  if (/^Running program '.*' failed with an unhandled exception:$/.test(first) && lines[1]) return lines[1];
  return first;
}

export class PulumiEngine {
  state: StackState = emptyState();
  readonly project: PulumiProject;
  private config: Record<string, ConfigValue>;

  constructor(private readonly opts: PulumiEngineOptions) {
    this.project = readProject(opts.programDir);
    this.config = {};
    this.setConfig(opts.config ?? {});
  }

  get stack(): string {
    return this.opts.stack ?? "test";
  }

  /** `pulumi config set` (undefined: `pulumi config rm`). */
  setConfig(values: Record<string, ConfigValue | undefined>): void {
    for (const [key, value] of Object.entries(values)) {
      const full = qualifiedKey(this.project.name, key);
      if (value === undefined) delete this.config[full];
      else this.config[full] = value;
    }
  }

  preview(): Promise<RunResult> {
    return this.runProgram(true);
  }

  /** `pulumi up`; `interrupt`: when it aborts, the run is interrupted as by Ctrl-C (see deployment.ts). */
  up(opts: { interrupt?: AbortSignal } = {}): Promise<RunResult> {
    return this.runProgram(false, opts.interrupt);
  }

  /**
   * `pulumi refresh` / `pulumi destroy`. As the engine does it (pulumi/pulumi pkg/engine/destroy.go,
   * pkg/resource/deploy/deployment_executor.go, providers/registry.go): without `runProgram` the program does not
   * run and every provider is configured from the inputs stored in the state (a default provider's are the stack
   * config as of the last `up`; the dynamic providers' default provider holds the whole config); with `runProgram`
   * (`--run-program`) the program runs first and its providers, configured from the current config, are used.
   */
  refresh(opts: { runProgram?: boolean } = {}): Promise<RunResult> {
    if (opts.runProgram) return this.runProgram(false, undefined, "refresh");
    return this.withoutProgram("refresh", (providers) => refreshState(this.state, providers));
  }

  destroy(opts: { runProgram?: boolean } = {}): Promise<RunResult> {
    if (opts.runProgram) return this.runProgram(false, undefined, "destroy");
    return this.withoutProgram("destroy", (providers) => destroyState(this.state, providers));
  }

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("PULUMI_") && key !== "KUBECONFIG") env[key] = value;
    }
    for (const [key, value] of Object.entries(this.opts.env ?? {})) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    return env;
  }

  /** The providers of one run; one dynamic-provider host per run, configured once, as the engine loads the plugin. */
  private providers(configValues: Record<string, string>, diagnostics: Diagnostic[]) {
    let host: Promise<DynamicProviderHost> | undefined;
    // configured once, with the first configuration asked for (one dynamic provider per run)
    const startHost = (values: Record<string, string> = configValues) =>
      (host ??= DynamicProviderHost.start({
        cwd: this.opts.programDir,
        env: { ...this.env(), PULUMI_NODEJS_PROJECT: this.project.name },
        onLine: (_stream, line) => diagnostics.push({ severity: "info", message: line, source: "provider-host" }),
      }).then(async (h) => {
        await h.configure(values);
        return h;
      }));
    const dynamic = dynamicProvider(() => startHost());
    /** The dynamic provider configured as its provider resource says (its inputs: the namespaced stack config). */
    const dynamicWith = (inputs: PropertyMap) =>
      dynamicProvider(() => startHost(Object.fromEntries(Object.entries(stripSecrets(inputs) as Record<string, unknown>).filter(([k]) => k.includes(":")).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]))));
    const builtin = providerResourceProvider();
    const stackRefs = stackReferenceProvider(this.opts.stackReferences ?? {});
    const kubeProviders = new Map<string, EngineProvider>();
    const lookup: ProviderLookup = (type, providerConfig) => {
      if (isDynamicType(type)) return providerConfig ? dynamicWith(providerConfig.inputs) : dynamic;
      if (type.startsWith("pulumi:providers:")) return builtin;
      if (type === "pulumi:pulumi:StackReference") return stackRefs;
      if (type.startsWith("kubernetes:")) {
        // one provider instance per configuration, as the engine loads one plugin per provider resource
        const inputs = providerConfig?.inputs ?? {};
        const key = JSON.stringify(stripSecrets(inputs));
        let kube = kubeProviders.get(key);
        if (!kube) kubeProviders.set(key, (kube = kubernetesProvider(() => connectProviderConfig(inputs))));
        return kube;
      }
      throw new Error(`${type}: no provider for this type in the harness`);
    };
    return {
      lookup,
      /** Starts the host now, while the program loads; a failure surfaces when a resource first needs it. */
      warm: () => void startHost().catch(() => undefined),
      stop: async () => {
        for (const kube of kubeProviders.values()) await kube.close?.();
        if (host) await (await host.catch(() => undefined))?.stop();
      },
    };
  }

  private resolvedConfig() {
    return resolveConfig(this.project, this.stack, this.config);
  }

  private async runProgram(preview: boolean, interrupt?: AbortSignal, programFor?: "destroy" | "refresh"): Promise<RunResult> {
    const mode: RunMode = programFor ?? (preview ? "preview" : "up");
    const diagnostics: Diagnostic[] = [];
    const messages: ReceivedMessage[] = [];
    let config;
    try {
      config = this.resolvedConfig();
    } catch (error) {
      return { mode, steps: [], outputs: {}, diagnostics, error: (error as Error).message, errorDetail: (error as Error).message, state: clone(this.state), messages };
    }
    const providers = this.providers(config.values, diagnostics);
    providers.warm();
    const packageConfig = (pkg: string): PropertyMap => {
      const inputs: PropertyMap = {};
      for (const [key, value] of Object.entries(config.values)) {
        // a dynamic provider's default provider gets the whole config, namespaced (deploy/target.go GetPackageConfig)
        if (pkg === "pulumi-nodejs") inputs[key] = config.secretKeys.includes(key) ? secret(value) : value;
        else if (key.startsWith(`${pkg}:`)) inputs[key.slice(pkg.length + 1)] = config.secretKeys.includes(key) ? secret(value) : value;
      }
      return inputs;
    };
    const deployment = new Deployment({ preview, stack: this.stack, project: this.project.name, old: this.state, providerFor: providers.lookup, packageConfig, ...(programFor ? { programFor } : {}) });
    const onInterrupt = () => deployment.interrupt();
    interrupt?.addEventListener("abort", onInterrupt, { once: true });
    const monitor = await startMonitorServer({
      deployment,
      onDiagnostic: (d) => diagnostics.push(d),
      onMessage: (m) => messages.push(m),
      invoke: this.opts.invoke,
    });
    const timeoutMs = this.opts.timeoutMs ?? 180_000;
    try {
      const run = await runProgram({
        dir: this.opts.programDir,
        main: this.project.main ?? ".",
        project: this.project.name,
        stack: this.stack,
        organization: this.opts.organization ?? "organization",
        monitor: monitor.address,
        preview,
        parallel: this.opts.parallel ?? 16,
        typescript: this.project.typescript,
        typeCheck: this.opts.typeCheck ?? false,
        config: config.values,
        secretKeys: config.secretKeys,
        env: this.env(),
        timeoutMs,
        signal: interrupt,
        onLine: (stream, line) => diagnostics.push({ severity: stream === "stderr" ? "error" : "info", message: line, source: stream === "stderr" ? "program-stderr" : "program-stdout" }),
      });
      let programError: string | undefined;
      if (run.timedOut) programError = `the program did not finish within ${timeoutMs} ms`;
      else if (run.exitCode !== 0) {
        const reported = diagnostics.find((d) => d.source === "program" && d.severity === "error");
        const stderr = diagnostics.filter((d) => d.source === "program-stderr").map((d) => d.message);
        programError = reported?.message.replace(ANSI, "") ?? (stderr.join("\n") || `the program exited with code ${run.exitCode}`);
      }
      await deployment.finish(programError);
      if (!preview) this.state = deployment.state();
      return {
        mode,
        steps: deployment.steps,
        operations: deployment.operations,
        outputs: deployment.stackOutputs,
        diagnostics,
        ...(deployment.failure ? { error: errorLine(deployment.failure), errorDetail: deployment.failure.replace(ANSI, "") } : {}),
        state: clone(this.state),
        messages,
      };
    } finally {
      interrupt?.removeEventListener("abort", onInterrupt);
      await providers.stop();
      await monitor.stop();
    }
  }

  private async withoutProgram(mode: RunMode, op: (providers: ProviderLookup) => Promise<{ steps: Step[]; state: StackState; failure?: string }>): Promise<RunResult> {
    const diagnostics: Diagnostic[] = [];
    let config;
    try {
      config = this.resolvedConfig();
    } catch (error) {
      return { mode, steps: [], outputs: {}, diagnostics, error: (error as Error).message, errorDetail: (error as Error).message, state: clone(this.state), messages: [] };
    }
    const providers = this.providers(config.values, diagnostics);
    try {
      const result = await op(providers.lookup);
      this.state = result.state;
      const stack = this.state.resources.find((r) => r.type === "pulumi:pulumi:Stack");
      return {
        mode,
        steps: result.steps,
        outputs: stack?.outputs ?? {},
        diagnostics,
        ...(result.failure ? { error: errorLine(result.failure), errorDetail: result.failure } : {}),
        state: clone(this.state),
        messages: [],
      };
    } finally {
      await providers.stop();
    }
  }
}

/** The step of the resource named `name` (the last URN segment) in a run's plan, or undefined. */
export function stepOf(result: RunResult, name: string): Step | undefined {
  return result.steps.find((s) => s.urn.endsWith(`::${name}`));
}

/** The op of the resource named `name` in a run's plan, or undefined. */
export function opOf(result: RunResult, name: string): StepOp | undefined {
  return stepOf(result, name)?.op;
}

/** The state of the resource named `name` (the last URN segment), or undefined. */
export function resourceOf(state: StackState, name: string): ResourceState | undefined {
  return state.resources.find((r) => r.urn.endsWith(`::${name}`));
}

/** A run's stack outputs as another stack's StackReference sees them (e.g. the copy stack's for the switch stack). */
export function asStackReference(result: RunResult): StackOutputsFixture {
  return {
    outputs: stripSecrets(result.outputs),
    secretOutputNames: Object.entries(result.outputs).filter(([, v]) => isSecret(v)).map(([k]) => k),
  };
}

/** The stack outputs with every secret unwrapped (for assertions on values). */
export function plainOutputs(result: RunResult): Record<string, unknown> {
  return stripSecrets(result.outputs);
}
