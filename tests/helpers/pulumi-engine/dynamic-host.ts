// The real dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`), started the way the engine starts the
// `pulumi-resource-pulumi-nodejs` plugin: working directory = the program's directory, the port read from its first
// line of stdout, then spoken to over gRPC. Values sent here are plain (the host does not accept secrets).
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { ResourceProviderClient } from "@pulumi/pulumi/proto/provider_grpc_pb";
import { CHILD_NODE_ARGS, GRPC_MAX_MESSAGE_BYTES, grpc, providerGrpcPb, providerProto, PULUMI_SDK_DIR, statusProto, structProto } from "./runtime-modules";
import type { PropertyMap } from "./property-values";

/** A provider error that carries `ErrorResourceInitFailed`: the resource exists (id) but failed to initialize. */
export class ResourceInitError extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly properties: PropertyMap,
    readonly reasons: string[],
  ) {
    super(message);
  }
}

export interface HostResource {
  urn: string;
  type: string;
  name: string;
}

export interface HostDiff {
  changes: boolean | undefined;
  replaces: string[];
  deleteBeforeReplace: boolean;
}

const START_TIMEOUT_MS = 30_000;
const CALL_DEADLINE_MS = 30 * 60_000;

function struct(value: PropertyMap) {
  return structProto.Struct.fromJavaScript(value as never);
}

/** The one-line-or-more message of a host error, with ErrorResourceInitFailed unpacked when present. */
function hostError(error: unknown): Error {
  const err = error as Error & { details?: string; metadata?: { get(key: string): Array<string | Buffer> } };
  const message = err.details ?? err.message;
  const [raw] = err.metadata?.get("grpc-status-details-bin") ?? [];
  if (raw) {
    const status = statusProto.Status.deserializeBinary(typeof raw === "string" ? Buffer.from(raw, "binary") : raw);
    for (const detail of status.getDetailsList()) {
      if (detail.getTypeName() !== "pulumirpc.ErrorResourceInitFailed") continue;
      const init = providerProto.ErrorResourceInitFailed.deserializeBinary(detail.getValue_asU8());
      return new ResourceInitError(status.getMessage() || message, init.getId(), (init.getProperties()?.toJavaScript() ?? {}) as PropertyMap, init.getReasonsList());
    }
  }
  return new Error(message);
}

export class DynamicProviderHost {
  private constructor(
    private readonly child: ChildProcess,
    private readonly client: ResourceProviderClient,
    private readonly exited: Promise<void>,
  ) {}

  /**
   * Starts the host. Every line it prints after its port (a provider's console.log / pulumi.log.*) goes to onLine,
   * as the engine shows them: info lines attached to no resource.
   */
  static async start(opts: { cwd: string; env: NodeJS.ProcessEnv; onLine: (stream: "stdout" | "stderr", line: string) => void }): Promise<DynamicProviderHost> {
    const child = spawn(process.execPath, [...CHILD_NODE_ARGS, join(PULUMI_SDK_DIR, "cmd", "dynamic-provider", "index.js"), "127.0.0.1:0"], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderr.push(line);
      opts.onLine("stderr", line);
    });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the dynamic-provider host printed no port within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      let first = true;
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (first) {
          first = false;
          clearTimeout(timer);
          const n = Number(line.trim());
          return Number.isInteger(n) && n > 0 ? resolve(n) : reject(new Error(`the dynamic-provider host printed "${line}" instead of its port`));
        }
        opts.onLine("stdout", line);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the dynamic-provider host exited (code ${code}) before listening: ${stderr.join(" ").slice(0, 500)}`));
      });
    }).catch(async (error: Error) => {
      child.kill("SIGKILL");
      await exited;
      throw error;
    });
    const client = new providerGrpcPb.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": GRPC_MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": GRPC_MAX_MESSAGE_BYTES,
    });
    return new DynamicProviderHost(child, client, exited);
  }

  private call<Req, Res>(method: string, request: Req): Promise<Res> {
    const fn = (this.client as unknown as Record<string, (req: Req, md: unknown, opts: unknown, cb: (err: unknown, res: Res) => void) => void>)[method];
    return new Promise<Res>((resolve, reject) => {
      fn.call(this.client, request, new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => (err ? reject(hostError(err)) : resolve(res)));
    });
  }

  /** Configure with the stack's whole config (namespaced keys, plain values), as the engine configures it. */
  async configure(config: Record<string, string>): Promise<{ acceptSecrets: boolean; supportsPreview: boolean }> {
    const req = new providerProto.ConfigureRequest();
    req.setArgs(struct(config));
    const map = req.getVariablesMap();
    for (const [key, value] of Object.entries(config)) map.set(key, value);
    req.setAcceptsecrets(true);
    req.setAcceptresources(true);
    const res = await this.call<typeof req, InstanceType<typeof providerProto.ConfigureResponse>>("configure", req);
    return { acceptSecrets: res.getAcceptsecrets(), supportsPreview: res.getSupportspreview() };
  }

  async check(res: HostResource, olds: PropertyMap, news: PropertyMap): Promise<{ inputs: PropertyMap; failures: Array<{ property: string; reason: string }> }> {
    const req = new providerProto.CheckRequest();
    req.setUrn(res.urn).setName(res.name).setType(res.type);
    req.setOlds(struct(olds));
    req.setNews(struct(news));
    const out = await this.call<typeof req, InstanceType<typeof providerProto.CheckResponse>>("check", req);
    return {
      inputs: (out.getInputs()?.toJavaScript() ?? {}) as PropertyMap,
      failures: out.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(res: HostResource, id: string, olds: PropertyMap, news: PropertyMap, oldInputs: PropertyMap): Promise<HostDiff> {
    const req = new providerProto.DiffRequest();
    req.setUrn(res.urn).setName(res.name).setType(res.type).setId(id);
    req.setOlds(struct(olds));
    req.setNews(struct(news));
    req.setOldInputs(struct(oldInputs));
    const out = await this.call<typeof req, InstanceType<typeof providerProto.DiffResponse>>("diff", req);
    const kind = out.getChanges();
    const { DIFF_NONE, DIFF_SOME } = providerProto.DiffResponse.DiffChanges;
    return {
      changes: kind === DIFF_SOME ? true : kind === DIFF_NONE ? false : undefined,
      replaces: out.getReplacesList(),
      deleteBeforeReplace: out.getDeletebeforereplace(),
    };
  }

  async create(res: HostResource, properties: PropertyMap): Promise<{ id: string; outputs: PropertyMap }> {
    const req = new providerProto.CreateRequest();
    req.setUrn(res.urn).setName(res.name).setType(res.type);
    req.setProperties(struct(properties));
    const out = await this.call<typeof req, InstanceType<typeof providerProto.CreateResponse>>("create", req);
    return { id: out.getId(), outputs: (out.getProperties()?.toJavaScript() ?? {}) as PropertyMap };
  }

  async update(res: HostResource, id: string, olds: PropertyMap, news: PropertyMap, oldInputs: PropertyMap): Promise<PropertyMap> {
    const req = new providerProto.UpdateRequest();
    req.setUrn(res.urn).setName(res.name).setType(res.type).setId(id);
    req.setOlds(struct(olds));
    req.setNews(struct(news));
    req.setOldInputs(struct(oldInputs));
    const out = await this.call<typeof req, InstanceType<typeof providerProto.UpdateResponse>>("update", req);
    return (out.getProperties()?.toJavaScript() ?? {}) as PropertyMap;
  }

  /** Refresh: the old outputs only, no inputs (what the engine sends). An empty id means the resource is gone. */
  async read(res: HostResource, id: string, properties: PropertyMap): Promise<{ id: string; outputs: PropertyMap; inputs?: PropertyMap }> {
    const req = new providerProto.ReadRequest();
    req.setUrn(res.urn).setName(res.name).setType(res.type).setId(id);
    req.setProperties(struct(properties));
    const out = await this.call<typeof req, InstanceType<typeof providerProto.ReadResponse>>("read", req);
    const inputs = out.getInputs()?.toJavaScript() as PropertyMap | undefined;
    return { id: out.getId(), outputs: (out.getProperties()?.toJavaScript() ?? {}) as PropertyMap, ...(inputs ? { inputs } : {}) };
  }

  async delete(res: HostResource, id: string, properties: PropertyMap, oldInputs: PropertyMap): Promise<void> {
    const req = new providerProto.DeleteRequest();
    req.setUrn(res.urn).setName(res.name).setType(res.type).setId(id);
    req.setProperties(struct(properties));
    req.setOldInputs(struct(oldInputs));
    await this.call<typeof req, unknown>("delete", req);
  }

  /** Closes the channel and kills the host (it never exits on its own: its gRPC server keeps it alive). */
  async stop(): Promise<void> {
    this.client.close();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}
