// Registry error answers: `{"errors":[{code,message,detail}]}` read with zod; HTML or empty bodies tolerated.

import * as z from "zod";

const errorBodySchema = z.object({
  errors: z.array(z.object({ code: z.string().optional(), message: z.string().optional(), detail: z.unknown().optional() }).loose()),
});

export class RegistryError extends Error {
  override name = "RegistryError";
  constructor(
    message: string,
    readonly status: number,
    readonly codes: string[] = [],
    /** The server's Retry-After, in ms, when it sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The registry's own explanation, e.g. `MANIFEST_UNKNOWN: manifest unknown`, or a short note on a non-JSON body. */
export function describeErrorBody(text: string): { summary: string; codes: string[] } {
  const trimmed = text.trim();
  if (!trimmed) return { summary: "", codes: [] };
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(trimmed));
    if (parsed.success) {
      const codes = parsed.data.errors.map((e) => e.code ?? "UNKNOWN");
      const summary = parsed.data.errors
        .map((e) => [e.code ?? "UNKNOWN", e.message].filter(Boolean).join(": "))
        .join("; ");
      return { summary, codes };
    }
  } catch {
    // not JSON: fall through
  }
  const plain = trimmed.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  return { summary: plain.slice(0, 160), codes: [] };
}

export const STATUS_TEXT: Record<number, string> = {
  400: "bad request",
  401: "unauthorized (wrong credentials?)",
  403: "forbidden (no permission)",
  404: "not found",
  405: "method not allowed",
  413: "payload too large",
  416: "range not satisfiable",
  429: "too many requests",
  500: "internal server error",
  502: "bad gateway",
  503: "service unavailable",
  504: "gateway timeout",
};
