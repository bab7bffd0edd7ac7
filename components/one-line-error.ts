// The error that ends the program when a stage refuses or meets bad input, for both stages.
import * as pulumi from "@pulumi/pulumi";

/**
 * A RunError with the message alone (prefixed unless it already names images-copier), and no stack: Pulumi prints a
 * RunError's message only, but its Node runtime still runs util.inspect over the stack of any uncaught error for its
 * trace events, which under the program's ts-node source maps took 40 s and more before failing.
 */
export function oneLineError(error: unknown, prefix: string): pulumi.RunError {
  const message = error instanceof Error ? error.message : String(error);
  const refusal = new pulumi.RunError(message.startsWith("images-copier") ? message : `${prefix}${message}`);
  refusal.stack = undefined;
  return refusal;
}
