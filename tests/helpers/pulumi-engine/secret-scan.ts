// Finds credentials stored or received in plaintext: anywhere in the state (inputs, outputs, a dynamic provider's
// `__provider` text), in what the engine received from the program, and in log lines, outside secret-marked values.
// A credential counts as found as itself, JSON-escaped (inside JSON text), base64-encoded at any byte alignment
// (inside base64 text, e.g. `auth` = base64("user:password")), or inside any base64 string that decodes to text
// holding it (a Secret's data, a dockerconfigjson). Findings name where, never the value. The SDK's debug lines
// (shown only with `pulumi --debug`; they echo whole registrations) are not scanned.
import type { Diagnostic, ReceivedMessage } from "./monitor-server";
import { isObject, isSecret } from "./property-values";
import type { StackState } from "./state";

export interface SecretFinding {
  /** Index into the list of sensitive strings. */
  secret: number;
  /** Where: `state <urn> outputs.manifests.x`, `message 3 RegisterResource <type> <name> …`, `diagnostic 5 (provider-host)`. */
  where: string;
  form: "plain" | "json-escaped" | "base64" | "inside decoded base64";
}

export interface ScanSubject {
  state?: StackState;
  messages?: ReceivedMessage[];
  diagnostics?: Diagnostic[];
}

const MIN_FORM_LENGTH = 6;
const BASE64_TEXT = /^[A-Za-z0-9+/_-]{8,}={0,2}$/;

/** The parts of base64(secret) that appear whatever bytes surround it (one per alignment). */
function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const forms: string[] = [];
  for (let pad = 0; pad < 3; pad++) {
    let enc = Buffer.concat([Buffer.alloc(pad), bytes]).toString("base64").replace(/=+$/, "");
    if ((pad + bytes.length) % 3 !== 0) enc = enc.slice(0, Math.floor((pad + bytes.length) / 3) * 4);
    if (pad > 0) enc = enc.slice(4);
    if (enc.length >= MIN_FORM_LENGTH) forms.push(enc);
  }
  return forms;
}

function decodedText(value: string): string | undefined {
  const compact = value.replace(/\s+/g, "");
  if (!BASE64_TEXT.test(compact)) return undefined;
  const text = Buffer.from(compact.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
  // Only text that decodes cleanly is worth a look (random bytes are not where a credential hides).
  return text.includes("\uFFFD") ? undefined : text;
}

export function findPlaintextSecrets(subject: ScanSubject | ScanSubject[], sensitive: string[]): SecretFinding[] {
  const needles = sensitive.map((s) => ({
    plain: s,
    escaped: JSON.stringify(s).slice(1, -1),
    base64: base64Forms(s),
  }));
  const findings: SecretFinding[] = [];

  function scanString(text: string, where: string, depth: number, decoded: boolean): void {
    needles.forEach((n, i) => {
      const add = (form: SecretFinding["form"]) => findings.push({ secret: i, where, form: decoded ? "inside decoded base64" : form });
      if (text.includes(n.plain)) add("plain");
      else if (n.escaped !== n.plain && text.includes(n.escaped)) add("json-escaped");
      else if (n.base64.some((f) => text.includes(f))) add("base64");
    });
    const inner = depth < 3 ? decodedText(text) : undefined;
    if (inner !== undefined) scanString(inner, where, depth + 1, true);
  }

  function walk(value: unknown, where: string): void {
    if (isSecret(value)) return;
    if (typeof value === "string") scanString(value, where, 0, false);
    else if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${where}[${i}]`));
    else if (isObject(value)) for (const [k, v] of Object.entries(value)) walk(v, where.endsWith(" ") ? `${where}${k}` : `${where}.${k}`);
  }

  for (const s of Array.isArray(subject) ? subject : [subject]) {
    for (const r of s.state?.resources ?? []) {
      walk(r.inputs, `state ${r.urn} inputs `);
      walk(r.outputs, `state ${r.urn} outputs `);
      if (r.id) walk(r.id, `state ${r.urn} id`);
    }
    (s.messages ?? []).forEach((m, i) => walk(m.payload, `message ${i} ${m.rpc} ${m.type ?? ""} ${m.name ?? m.urn ?? ""} `));
    (s.diagnostics ?? []).forEach((d, i) => d.severity !== "debug" && walk(d.message, `diagnostic ${i} (${d.source})`));
  }
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.secret}|${f.where}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}
