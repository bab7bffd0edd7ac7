// Parses `WWW-Authenticate` challenges (RFC 7235 / RFC 6750), e.g. `Bearer realm="…",service="…",scope="…"`.

export interface Challenge {
  scheme: string; // lower-case: "bearer", "basic"
  params: Record<string, string>; // keys lower-case
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** Parses one header value that may hold several challenges; unknown or broken parts are skipped. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (!header) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const value of values) out.push(...parseOne(value));
  return out;
}

function parseOne(input: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = input.trim();
  let current: Challenge | undefined;
  while (rest.length > 0) {
    rest = rest.replace(/^[\s,]+/, "");
    if (!rest) break;
    const name = TOKEN.exec(rest);
    if (!name) break;
    const after = rest.slice(name[0].length).replace(/^\s+/, "");
    if (after.startsWith("=") && current) {
      // auth-param: name=value or name="quoted value"
      let value = "";
      let tail = after.slice(1).replace(/^\s+/, "");
      if (tail.startsWith('"')) {
        let i = 1;
        while (i < tail.length && tail[i] !== '"') {
          if (tail[i] === "\\" && i + 1 < tail.length) i++;
          value += tail[i];
          i++;
        }
        tail = tail.slice(i + 1);
      } else {
        const bare = /^[^,\s]*/.exec(tail)![0];
        value = bare;
        tail = tail.slice(bare.length);
      }
      current.params[name[0].toLowerCase()] = value;
      rest = tail;
    } else {
      current = { scheme: name[0].toLowerCase(), params: {} };
      challenges.push(current);
      rest = after;
    }
  }
  return challenges;
}
