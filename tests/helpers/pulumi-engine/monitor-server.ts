// The two gRPC services the Node language runtime (`cmd/run`) talks to, served on 127.0.0.1: ResourceMonitor
// (registrations, reads, invokes, outputs) and Engine (log, root resource). Everything the program sends is
// recorded (the secret scanner reads it); the step decisions are the Deployment's.
import type { Server, ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { DeploymentCancelled, type Deployment } from "./deployment";
import type { PropertyMap } from "./property-values";
import { emptyProto, engineGrpcPb, engineProto, GRPC_MAX_MESSAGE_BYTES, grpc, providerProto, resourceGrpcPb, resourceProto, structProto } from "./runtime-modules";

export type Severity = "debug" | "info" | "warning" | "error";

export interface Diagnostic {
  severity: Severity;
  message: string;
  urn?: string;
  /** program: the SDK's log RPC or the program's stdout/stderr; provider-host: a dynamic provider's output. */
  source: "program" | "program-stdout" | "program-stderr" | "provider-host";
}

/** A message the engine received from the program (the secret scanner looks for plaintext credentials in them). */
export interface ReceivedMessage {
  rpc: "RegisterResource" | "ReadResource" | "RegisterResourceOutputs" | "Invoke" | "Log";
  urn?: string;
  type?: string;
  name?: string;
  payload: unknown;
}

export type InvokeHandler = (token: string, args: PropertyMap) => Promise<PropertyMap>;

/** Features this stand-in implements; the SDK adapts to the rest (e.g. no output values, no transforms). */
const FEATURES = new Set(["secrets", "deletedWith", "aliasSpecs"]);

const SEVERITIES: Record<number, Severity> = { 0: "debug", 1: "info", 2: "warning", 3: "error" };

function toJs(struct: { toJavaScript(): unknown } | undefined): PropertyMap {
  return (struct?.toJavaScript() ?? {}) as PropertyMap;
}

type Handler<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

function unary<Req, Res>(fn: (req: Req) => Promise<Res> | Res): Handler<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (res) => callback(null, res),
        (error: Error) =>
          callback({
            code: error instanceof DeploymentCancelled ? grpc.status.UNAVAILABLE : grpc.status.UNKNOWN,
            details: error.message,
          } as never),
      );
  };
}

export interface MonitorServer {
  address: string;
  stop(): Promise<void>;
}

export async function startMonitorServer(opts: {
  deployment: Deployment;
  onDiagnostic: (d: Diagnostic) => void;
  onMessage: (m: ReceivedMessage) => void;
  invoke?: InvokeHandler;
}): Promise<MonitorServer> {
  const { deployment, onDiagnostic, onMessage } = opts;
  let rootUrn = "";
  const server: Server = new grpc.Server({
    "grpc.max_receive_message_length": GRPC_MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": GRPC_MAX_MESSAGE_BYTES,
  });

  server.addService(resourceGrpcPb.ResourceMonitorService, {
    supportsFeature: unary((req: InstanceType<typeof resourceProto.SupportsFeatureRequest>) =>
      new resourceProto.SupportsFeatureResponse().setHassupport(FEATURES.has(req.getId())),
    ),
    registerResource: unary(async (req: InstanceType<typeof resourceProto.RegisterResourceRequest>) => {
      const inputs = toJs(req.getObject());
      onMessage({ rpc: "RegisterResource", type: req.getType(), name: req.getName(), payload: inputs });
      const propertyDependencies: Record<string, string[]> = {};
      for (const [key, deps] of req.getPropertydependenciesMap().entries()) propertyDependencies[key] = deps.getUrnsList();
      const result = await deployment.register({
        type: req.getType(),
        name: req.getName(),
        parent: req.getParent() || undefined,
        custom: req.getCustom(),
        remote: req.getRemote(),
        inputs,
        dependencies: req.getDependenciesList(),
        propertyDependencies,
        deleteBeforeReplace: req.getDeletebeforereplacedefined() && req.getDeletebeforereplace(),
        ignoreChanges: req.getIgnorechangesList(),
        replaceOnChanges: req.getReplaceonchangesList(),
        additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        retainOnDelete: req.getRetainondelete(),
        protect: req.getProtect(),
        importId: req.getImportid() || undefined,
        provider: req.getProvider() || undefined,
        version: req.getVersion() || undefined,
      });
      const res = new resourceProto.RegisterResourceResponse();
      res.setUrn(result.urn);
      if (result.id) res.setId(result.id);
      res.setObject(structProto.Struct.fromJavaScript(result.outputs as never));
      return res;
    }),
    readResource: unary(async (req: InstanceType<typeof resourceProto.ReadResourceRequest>) => {
      const inputs = toJs(req.getProperties());
      onMessage({ rpc: "ReadResource", type: req.getType(), name: req.getName(), payload: { id: req.getId(), properties: inputs } });
      const result = await deployment.read({
        type: req.getType(),
        name: req.getName(),
        id: req.getId(),
        parent: req.getParent() || undefined,
        inputs,
        dependencies: req.getDependenciesList(),
        additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        provider: req.getProvider() || undefined,
        version: req.getVersion() || undefined,
      });
      return new resourceProto.ReadResourceResponse().setUrn(result.urn).setProperties(structProto.Struct.fromJavaScript(result.outputs as never));
    }),
    registerResourceOutputs: unary((req: InstanceType<typeof resourceProto.RegisterResourceOutputsRequest>) => {
      const outputs = toJs(req.getOutputs());
      onMessage({ rpc: "RegisterResourceOutputs", urn: req.getUrn(), payload: outputs });
      deployment.registerOutputs(req.getUrn(), outputs);
      return new emptyProto.Empty();
    }),
    invoke: unary(async (req: InstanceType<typeof resourceProto.ResourceInvokeRequest>) => {
      const args = toJs(req.getArgs());
      onMessage({ rpc: "Invoke", name: req.getTok(), payload: args });
      if (!opts.invoke) throw new Error(`the harness answers no invokes (${req.getTok()}); pass an invoke handler`);
      const result = await opts.invoke(req.getTok(), args);
      return new providerProto.InvokeResponse().setReturn(structProto.Struct.fromJavaScript(result as never));
    }),
    registerPackage: unary(() => new resourceProto.RegisterPackageResponse().setRef("harness-package")),
    signalAndWaitForShutdown: unary(() => new emptyProto.Empty()),
  });

  server.addService(engineGrpcPb.EngineService, {
    log: unary((req: InstanceType<typeof engineProto.LogRequest>) => {
      const diagnostic: Diagnostic = { severity: SEVERITIES[req.getSeverity()] ?? "info", message: req.getMessage(), source: "program", ...(req.getUrn() ? { urn: req.getUrn() } : {}) };
      // The SDK's debug lines (shown only with --debug) echo whole registrations, secrets included: not recorded
      // as messages the engine keeps.
      if (diagnostic.severity !== "debug") onMessage({ rpc: "Log", urn: diagnostic.urn, payload: diagnostic.message });
      onDiagnostic(diagnostic);
      return new emptyProto.Empty();
    }),
    getRootResource: unary(() => new engineProto.GetRootResourceResponse().setUrn(rootUrn)),
    setRootResource: unary((req: InstanceType<typeof engineProto.SetRootResourceRequest>) => {
      rootUrn = req.getUrn();
      deployment.setRoot(rootUrn);
      return new engineProto.SetRootResourceResponse();
    }),
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        // Calls still pending (a program killed mid-registration) must not hold the port: force after a grace.
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
