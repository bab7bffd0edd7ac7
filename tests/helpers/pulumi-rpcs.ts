// Waits until every registration a program queued with the (mock) monitor has been answered, outputs
// registrations included: the SDK's own drain of its RPC queue, which `cmd/run` awaits before a program exits.
// `waitForRPCs` is internal to @pulumi/pulumi (pinned in package.json); it replaces sleeping "long enough".
export function registrationsSettled(): Promise<void> {
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  return settings.waitForRPCs();
}
