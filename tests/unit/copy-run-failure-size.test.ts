// A failed run leaves CopyRun in the state through ErrorResourceInitFailed, which the real dynamic-provider host sends
// as ONE gRPC trailer (`grpc-status-details-bin`: the Status with the message, the reasons and every output, the
// serialized provider included). Measured with @grpc/grpc-js on this machine, a call whose trailer's Status passes
// about 60 KB never completes (the client waits for its deadline), so an oversized failure would hang `pulumi up`
// instead of reporting the copy's log. This builds the trailer exactly as the host does, for the largest failure the
// provider can produce, and keeps it within budget: a provider that grows past it fails here, not in a hung scenario.
import * as pulumi from "@pulumi/pulumi";
import { FAILURE_LOG_TAIL_CHARS, FAILURE_MESSAGE, makeCopyRunProvider } from "../../components/copy/run-provider";

const anyproto = require("google-protobuf/google/protobuf/any_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");
const provproto = require("@pulumi/pulumi/proto/provider_pb");
const statusproto = require("@pulumi/pulumi/proto/status_pb");

/** What cmd/dynamic-provider's grpcResponseFromError puts in the trailer for an error with an id. */
function trailerBytes(error: { message: string; id: string; properties: Record<string, unknown>; reasons: string[] }): number {
  const status = new statusproto.Status();
  status.setCode(2);
  status.setMessage(error.message);
  const detail = new provproto.ErrorResourceInitFailed();
  detail.setId(error.id);
  detail.setProperties(structproto.Struct.fromJavaScript(error.properties));
  detail.setReasonsList(error.reasons);
  const any = new anyproto.Any();
  any.pack(detail.serializeBinary(), "pulumirpc.ErrorResourceInitFailed");
  status.addDetails(any);
  return status.serializeBinary().length;
}

/** Below the ~60.5 KB measured to hang, for the text as jest compiles it: ts-jest keeps comments, while the
 *  program's runtime (cmd/run, tsconfig `removeComments`) drops them, so the real trailer is about 3 KB smaller. */
const BUDGET = 60_000;

test(`the largest failure CopyRun reports fits the host's trailer (under ${BUDGET} bytes: about 60.5 KB hangs the call)`, async () => {
  const provider = makeCopyRunProvider();
  const { text } = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  const long = (n: number) => "r".repeat(n);
  // every input the stage passes, at generous lengths; the message with the most log the provider keeps
  const properties = {
    namespace: "d8-system", jobName: "copy-images", jobUid: long(36), secretName: "images-copier-config", secretUid: long(36),
    configMapName: `images-copier-bundle-${long(12)}`, configMapUid: long(36), pullSecretName: "images-copier-registry", pullSecretUid: long(36),
    runId: long(40), sourceImage: long(200), targetImage: long(200), timeoutMinutes: 360, unschedulableMinutes: 5,
    sourceRepository: long(200), registryPath: "Unmanaged", deckhouseVersion: "v1.76.1", releaseChannel: "early-access",
    status: "failed", finishedAt: new Date().toISOString(), __provider: text,
  };
  const message = `${FAILURE_MESSAGE}\nJob d8-system/copy-images: ${long(400)}. Job, Pod and Secret images-copier-config are kept (\`kubectl -n d8-system logs job/copy-images\`).\nLast lines of pod copy-images-abcde:\n${long(FAILURE_LOG_TAIL_CHARS)}`;
  const bytes = trailerBytes({ message, id: "d8-system/copy-images", properties, reasons: [FAILURE_MESSAGE] });
  expect({ provider: text.length, bytes, fits: bytes < BUDGET }).toEqual({ provider: text.length, bytes, fits: true });
});
