// Keeps every known secret (passwords, tokens, basic auth values) out of anything the copier prints.

const secrets = new Set<string>();

/** Remembers a secret so that redact() masks it; short values are ignored (they would mask ordinary words). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join("***");
  }
  // user:password@ in URLs and Authorization values, whatever their origin.
  out = out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, "$1***@");
  out = out.replace(/\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g, "$1 ***");
  return out;
}
