// Kubernetes Secret data as both stages write it: base64 values and the `.dockerconfigjson` that kubelet and
// Deckhouse read (`auths[<host[:port]>]` with username, password and `auth` = base64 of `user:password`).

export function encodeBase64(value: string): string {
  return Buffer.from(value, "utf8").toString("base64");
}

export function decodeBase64(value: string): string {
  return Buffer.from(value, "base64").toString("utf8");
}

export function dockerConfigJson(host: string, username: string, password: string): string {
  return JSON.stringify({ auths: { [host]: { username, password, auth: encodeBase64(`${username}:${password}`) } } });
}
