// The engine harness itself, on a small fixture program (tests/fixtures/harness-program): the program runs under
// the real Node language runtime, its dynamic resource goes through the real dynamic-provider host, and the
// provider's side effects (one JSON file per widget) are checked on disk after every step.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asStackReference, findPlaintextSecrets, isSecret, opOf, plainOutputs, PulumiEngine, resourceOf, stepOf, UNKNOWN, type RunResult } from "../helpers/pulumi-engine";

const PROGRAM = join(__dirname, "..", "fixtures", "harness-program");
const TOKEN = "widget-token-0123456789";
const NEW_TOKEN = "widget-token-rotated-987";

let world: string;
beforeEach(() => {
  world = mkdtempSync(join(tmpdir(), "harness-world-"));
});
afterEach(() => rmSync(world, { recursive: true, force: true }));

const engineFor = (config: Record<string, string | { secret: string }> = {}) =>
  new PulumiEngine({ programDir: PROGRAM, config: { worldDir: world, token: { secret: TOKEN }, ...config } });

const widgetFiles = () => readdirSync(world).sort();
const widgetFile = (id: string) => JSON.parse(readFileSync(join(world, `${id}.json`), "utf8")) as Record<string, unknown>;
const providerLines = (r: RunResult) => r.diagnostics.filter((d) => d.source === "provider-host").map((d) => d.message);
const hostLines = (r: RunResult) => providerLines(r).filter((m) => !m.startsWith("widget: configured with "));
const configuredWith = (r: RunResult) => providerLines(r).filter((m) => m.startsWith("widget: configured with ")).map((m) => m.slice("widget: configured with ".length));
const plan = (r: RunResult) => r.steps.map((s) => `${s.op} ${s.urn.split("::").pop()}`);
const widgetState = (r: RunResult) => resourceOf(r.state, "widget")!;

test("a dynamic resource through up, up again, a previewed update (unknowns reach Diff), update and delete, replace, refresh and destroy", async () => {
  const engine = engineFor({ spare: "true" });

  const up = await engine.up();
  expect(up.error).toBeUndefined();
  expect(plan(up).sort()).toEqual(["create default", "create harness-fixture-test", "create shelf", "create spare", "create widget"]);
  expect(widgetFiles()).toEqual(["one-round.json", "spare-square.json"]);
  expect(widgetFile("one-round")).toMatchObject({ label: "one", shape: "round", tokenLength: TOKEN.length, revision: 1 });
  expect(hostLines(up)).toContain("widget: created one-round");
  // the local module ran inside the host (captured by value), zod was required from the program's directory
  expect(plainOutputs(up)).toMatchObject({ label: "one", shape: "round", revision: 1, fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) });
  // the secret input is secret in the inputs, and the provider's copy of it in the outputs is marked again by name
  const created = widgetState(up);
  expect(isSecret(created.inputs.token)).toBe(true);
  expect(isSecret(created.outputs.token)).toBe(true);
  expect(isSecret(up.outputs.token)).toBe(true);
  expect(created.outputs.__provider).toEqual(created.inputs.__provider);
  expect(findPlaintextSecrets(up, [TOKEN])).toEqual([]);
  // what another stack's StackReference would see: plain values, the secret one named
  expect(asStackReference(up)).toEqual({ outputs: { ...plainOutputs(up), token: TOKEN }, secretOutputNames: ["token"] });

  const fingerprint = plainOutputs(up).fingerprint as string;
  const again = await engine.up();
  expect(plan(again).sort()).toEqual(["same default", "same harness-fixture-test", "same shelf", "same spare", "same widget"]);
  expect(hostLines(again)).toEqual([`widget: diff spare-square note=${fingerprint}`]);
  expect(widgetFile("one-round")).toMatchObject({ revision: 1 });

  // in preview, an output of a resource about to change is unknown: Diff gets the unknown value itself
  engine.setConfig({ label: "two", token: { secret: NEW_TOKEN } });
  const updatePreview = await engine.preview();
  expect(stepOf(updatePreview, "widget")).toMatchObject({ op: "update", keys: ["label", "token"] });
  expect(stepOf(updatePreview, "spare")).toMatchObject({ op: "update", keys: ["note", "token"] });
  expect(hostLines(updatePreview)).toEqual([`widget: diff spare-square note=${UNKNOWN}`]);
  // nothing changed: no Create/Update ran, the state is as it was; the new inputs show, computed outputs are unknown
  expect(widgetFile("one-round")).toMatchObject({ label: "one", revision: 1 });
  expect(updatePreview.state).toEqual(again.state);
  expect(updatePreview.outputs.label).toBe("two");
  expect(updatePreview.outputs.fingerprint).toBe(UNKNOWN);

  // a changed input updates in place; a resource the program no longer declares is deleted after it ends
  engine.setConfig({ spare: "false" });
  const updated = await engine.up();
  expect(stepOf(updated, "widget")).toMatchObject({ op: "update", keys: ["label", "token"] });
  expect(updated.steps[updated.steps.length - 1]).toMatchObject({ op: "delete", urn: expect.stringMatching(/::spare$/) });
  expect(widgetFile("one-round")).toMatchObject({ label: "two", tokenLength: NEW_TOKEN.length, revision: 2 });
  expect(widgetFiles()).toEqual(["one-round.json"]);
  expect(findPlaintextSecrets(updated, [TOKEN, NEW_TOKEN])).toEqual([]);

  engine.setConfig({ shape: "square" });
  const replaced = await engine.up();
  expect(stepOf(replaced, "widget")).toMatchObject({ op: "replace", replaceKeys: ["shape"], deleteBeforeReplace: true });
  expect(hostLines(replaced)).toEqual(["widget: deleted one-round", "widget: created two-square"]);
  expect(widgetFiles()).toEqual(["two-square.json"]);
  expect(widgetState(replaced).id).toBe("two-square");

  // refresh: Read(id, old outputs) sees a label edited outside Pulumi
  writeFileSync(join(world, "two-square.json"), JSON.stringify({ ...widgetFile("two-square"), label: "edited" }));
  const refreshed = await engine.refresh();
  expect(refreshed.steps).toEqual([expect.objectContaining({ op: "refresh", keys: ["label"] })]);
  expect(widgetState(refreshed).outputs.label).toBe("edited");
  expect(isSecret(widgetState(refreshed).outputs.token)).toBe(true);
  expect(findPlaintextSecrets(refreshed, [TOKEN])).toEqual([]);

  // the provider's configuration at refresh: the config stored with the last up, unless --run-program
  engine.setConfig({ label: "three" });
  expect(configuredWith(await engine.refresh())).toEqual(["label two"]);
  const withProgram = await engine.refresh({ runProgram: true });
  expect(withProgram.error).toBeUndefined();
  expect(configuredWith(withProgram)).toEqual(["label three"]);
  expect(widgetState(withProgram).inputs.label).toBe("two"); // refresh changes no inputs
  expect(findPlaintextSecrets(withProgram, [TOKEN, NEW_TOKEN])).toEqual([]);

  const destroyed = await engine.destroy();
  expect(destroyed.error).toBeUndefined();
  // dependents first: the widget, then the provider it used, its parent, the stack
  expect(plan(destroyed)).toEqual(["delete widget", "delete default", "delete shelf", "delete harness-fixture-test"]);
  expect(widgetFiles()).toEqual([]);
  expect(engine.state.resources).toEqual([]);
});

test("a provider failing with ErrorResourceInitFailed: the resource stays in the state, the next up updates it", async () => {
  const engine = engineFor({ failCreate: "true" });
  const failed = await engine.up();
  expect(failed.error).toBe("widget one-round did not come up: failCreate is set");
  expect(failed.errorDetail).toContain("second line of detail");
  expect(stepOf(failed, "widget")).toMatchObject({ op: "create", failed: true });
  const recorded = widgetState(failed);
  expect(recorded).toMatchObject({ id: "one-round", initErrors: ["failCreate is set"] });
  expect(isSecret(recorded.outputs.token)).toBe(true);
  expect(findPlaintextSecrets(failed, [TOKEN])).toEqual([]);
  expect(widgetFile("one-round")).toEqual({ broken: true });

  engine.setConfig({ failCreate: "false" });
  const retried = await engine.up();
  expect(retried.error).toBeUndefined();
  expect(opOf(retried, "widget")).toBe("update");
  expect(widgetFile("one-round")).toMatchObject({ label: "one", revision: 1 });
  expect(widgetState(retried).initErrors).toBeUndefined();

  // the Delete runs the provider code stored in the state
  expect((await engine.destroy()).error).toBeUndefined();
  expect(widgetFiles()).toEqual([]);
});

test("a failed check is one line and creates nothing; the CLI's config checks run before the program", async () => {
  const engine = engineFor({ shape: "triangle" });
  const bad = await engine.up();
  expect(bad.error).toMatch(/::widget: check failed: shape: Invalid option/);
  expect(bad.error).not.toContain("\n");
  expect(widgetFiles()).toEqual([]);
  expect(bad.state.resources.some((r) => r.type.startsWith("pulumi-nodejs:dynamic:"))).toBe(false);

  engine.setConfig({ shape: undefined, token: undefined });
  expect((await engine.preview()).error).toBe("Stack 'test' is missing configuration value 'harness-fixture:token'");
  engine.setConfig({ token: TOKEN });
  expect((await engine.preview()).error).toBe("Stack 'test' with configuration key 'harness-fixture:token' must be encrypted as it's secret");
  expect(existsSync(join(world, "one-round.json"))).toBe(false);
});
