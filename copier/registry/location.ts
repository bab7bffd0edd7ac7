// Upload `Location` handling per the distribution spec: resolve it (absolute or relative) against the URL of the
// request that returned it, keep every query parameter it carries (distribution's `_state`), and append ours.

export function resolveLocation(location: string | string[] | undefined, requestUrl: URL | string, what: string): URL {
  const value = Array.isArray(location) ? location[0] : location;
  if (!value) throw new Error(`${what}: the registry sent no upload Location`);
  try {
    return new URL(value, requestUrl);
  } catch {
    throw new Error(`${what}: the registry sent an unusable upload Location`);
  }
}

/** A copy of `location` with `params` appended to its existing query. */
export function withQuery(location: URL, params: Record<string, string>): URL {
  const url = new URL(location.href);
  for (const [key, value] of Object.entries(params)) url.searchParams.append(key, value);
  return url;
}
