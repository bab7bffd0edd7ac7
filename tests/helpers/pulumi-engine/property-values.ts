// Property values as they travel between the SDK, the engine and providers (`google.protobuf.Struct` turned into
// plain JSON): a secret is `{[SIG_KEY]: SECRET_SIG, value}`, an unknown (preview) is the string UNKNOWN.
// The engine's secret rules live here: strip the wrappers before a provider that does not accept secrets, and mark
// its outputs secret again afterwards.

export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type PropertyMap = Record<string, unknown>;

export interface SecretValue {
  [SIG_KEY]: typeof SECRET_SIG;
  value: unknown;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isSecret(value: unknown): value is SecretValue {
  return isObject(value) && value[SIG_KEY] === SECRET_SIG;
}

export function secret(value: unknown): SecretValue {
  return isSecret(value) ? value : { [SIG_KEY]: SECRET_SIG, value };
}

/** Every secret wrapper removed, at any depth (what a provider with acceptSecrets=false is sent). */
export function stripSecrets<T>(value: T): T {
  if (isSecret(value)) return stripSecrets(value.value) as T;
  if (Array.isArray(value)) return value.map(stripSecrets) as T;
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripSecrets(v)])) as T;
  return value;
}

/**
 * The engine's `annotateSecrets`: an output is marked secret where the value at the same path of `reference`
 * (the inputs sent, or the old state) was secret, and every top-level key named in `additionalSecretOutputs`.
 * A NEW output key that merely copies a secret input stays plaintext, exactly as in the real engine.
 */
export function markSecrets(outputs: PropertyMap, reference: PropertyMap, additionalSecretOutputs: string[] = []): PropertyMap {
  const marked = annotate(outputs, reference) as PropertyMap;
  for (const key of additionalSecretOutputs) {
    if (key in marked && marked[key] !== undefined) marked[key] = secret(marked[key]);
  }
  return marked;
}

function annotate(output: unknown, reference: unknown): unknown {
  if (isSecret(reference)) return secret(stripSecrets(output));
  if (isSecret(output)) return output;
  if (Array.isArray(output) && Array.isArray(reference)) return output.map((item, i) => annotate(item, reference[i]));
  if (isObject(output) && isObject(reference)) {
    return Object.fromEntries(Object.entries(output).map(([k, v]) => [k, annotate(v, reference[k])]));
  }
  return output;
}

export function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (isObject(value)) return Object.values(value).some(containsUnknown);
  return false;
}

/** Structural equality of two property values (object key order does not matter; `undefined` keys are absent). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => a[k] !== undefined || b[k] !== undefined));
    return [...keys].every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** The top-level keys whose values differ (secret wrappers count: making a value secret is a change). */
export function changedKeys(olds: PropertyMap, news: PropertyMap): string[] {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  return [...keys].filter((k) => !deepEqual(olds[k], news[k])).sort();
}

/** Plain JSON with secret wrappers kept (structuredClone drops nothing we use here). */
export function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
