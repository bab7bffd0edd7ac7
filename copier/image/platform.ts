// Platforms as `os/architecture[/variant]` (docker's and containerd's notation): parsed from the command line,
// matched against the platforms an image index lists, and printed.

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const DEFAULT_PLATFORMS: readonly string[] = ["linux/amd64", "linux/arm64"];

const PLATFORM = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/;

export class PlatformError extends Error {
  override name = "PlatformError";
}

export function parsePlatform(text: string): Platform {
  const m = PLATFORM.exec(text.trim().toLowerCase());
  if (!m) throw new PlatformError(`platform "${text}" is not os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  return m[3] ? { os: m[1], architecture: m[2], variant: m[3] } : { os: m[1], architecture: m[2] };
}

export function formatPlatform(p: Partial<Platform> | undefined): string {
  if (!p) return "unknown";
  return [p.os ?? "unknown", p.architecture ?? "unknown", p.variant].filter(Boolean).join("/");
}

/**
 * Whether `candidate` (an index entry's or a config's platform) is what `wanted` asks for. A wanted platform
 * without a variant takes every variant; arm64 without a variant is v8, as containerd normalises it.
 */
export function platformMatches(wanted: Platform, candidate: Partial<Platform> | undefined): boolean {
  if (!candidate || candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (!wanted.variant) return true;
  const variant = candidate.variant ?? (candidate.architecture === "arm64" ? "v8" : undefined);
  return variant === wanted.variant;
}
