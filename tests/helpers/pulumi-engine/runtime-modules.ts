// The gRPC library, the generated protos and google-protobuf's Struct exactly as @pulumi/pulumi resolves them, so
// the engine stand-in speaks the wire format of the pinned SDK (3.248.0; the protocol is internal to Pulumi).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as grpcTypes from "@grpc/grpc-js";
import type * as engineGrpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import type * as enginePb from "@pulumi/pulumi/proto/engine_pb";
import type * as providerGrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import type * as providerPb from "@pulumi/pulumi/proto/provider_pb";
import type * as resourceGrpc from "@pulumi/pulumi/proto/resource_grpc_pb";
import type * as resourcePb from "@pulumi/pulumi/proto/resource_pb";
import type * as statusPb from "@pulumi/pulumi/proto/status_pb";
import type * as structPb from "google-protobuf/google/protobuf/struct_pb";
import type * as emptyPb from "google-protobuf/google/protobuf/empty_pb";

/** The directory of the installed @pulumi/pulumi (its cmd/run and cmd/dynamic-provider live there). */
export const PULUMI_SDK_DIR = dirname(require.resolve("@pulumi/pulumi/package.json"));
export const PULUMI_SDK_VERSION: string = (require(join(PULUMI_SDK_DIR, "package.json")) as { version: string }).version;

const fromSdk = createRequire(join(PULUMI_SDK_DIR, "package.json"));

export const grpc = fromSdk("@grpc/grpc-js") as typeof grpcTypes;
export const resourceGrpcPb = fromSdk("./proto/resource_grpc_pb") as typeof resourceGrpc;
export const resourceProto = fromSdk("./proto/resource_pb") as typeof resourcePb;
export const engineGrpcPb = fromSdk("./proto/engine_grpc_pb") as typeof engineGrpc;
export const engineProto = fromSdk("./proto/engine_pb") as typeof enginePb;
export const providerGrpcPb = fromSdk("./proto/provider_grpc_pb") as typeof providerGrpc;
export const providerProto = fromSdk("./proto/provider_pb") as typeof providerPb;
export const statusProto = fromSdk("./proto/status_pb") as typeof statusPb;
export const structProto = fromSdk("google-protobuf/google/protobuf/struct_pb") as typeof structPb;
export const emptyProto = fromSdk("google-protobuf/google/protobuf/empty_pb") as typeof emptyPb;

/**
 * Node flags for the program and the provider host: v8-compile-cache keeps V8's compiled code of every module
 * between processes (in the OS temp dir, keyed by each file's content). Each run loads @pulumi/pulumi and its
 * dependencies afresh, as the CLI's processes do; only compiling them again is saved (a third of a run's CPU here).
 */
export const CHILD_NODE_ARGS: readonly string[] = ["--require", require.resolve("v8-compile-cache")];

/** The gRPC message limit the SDK and the engine use (400 MB). */
export const GRPC_MAX_MESSAGE_BYTES = 400 * 1024 * 1024;
