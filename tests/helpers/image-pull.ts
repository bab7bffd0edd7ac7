// What a node does for a container image: pull it with the pod's imagePullSecrets (their `.dockerconfigjson`
// merged into one auth file, which skopeo reads as containerd reads the kubelet's credentials: by registry host)
// and unpack its layers, in order, into a root filesystem. skopeo is the real registry client here; the node's
// trust in the registry's CA is given as a cert dir.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface PulledImage {
  /** The unpacked root filesystem. */
  rootfs: string;
  /** The registry hosts the pull had credentials for. */
  credentialHosts: string[];
}

/** Pulls `image` (the node's platform of an index) into `dir`/rootfs with the given `.dockerconfigjson` texts. */
export async function pullImage(image: string, dockerConfigs: string[], opts: { dir: string; certDir?: string }): Promise<PulledImage> {
  const auths: Record<string, unknown> = {};
  for (const text of dockerConfigs) Object.assign(auths, (JSON.parse(text) as { auths?: Record<string, unknown> }).auths ?? {});
  mkdirSync(opts.dir, { recursive: true });
  const authFile = join(opts.dir, "auth.json");
  writeFileSync(authFile, JSON.stringify({ auths }), { mode: 0o600 });
  const layout = join(opts.dir, "layout");
  const certs = opts.certDir ? [`--src-cert-dir=${opts.certDir}`] : [];
  try {
    await execFileAsync("skopeo", ["copy", "--retry-times", "0", `--src-authfile=${authFile}`, ...certs, `docker://${image}`, `dir:${layout}`], { timeout: 60_000 });
  } catch (error) {
    throw new Error(`pull ${image}: ${((error as { stderr?: string }).stderr ?? String(error)).trim()}`);
  }
  const manifest = JSON.parse(readFileSync(join(layout, "manifest.json"), "utf8")) as { layers: Array<{ digest: string }> };
  const rootfs = join(opts.dir, "rootfs");
  mkdirSync(rootfs, { recursive: true });
  for (const layer of manifest.layers) {
    await execFileAsync("tar", ["-xzf", join(layout, layer.digest.slice("sha256:".length)), "-C", rootfs, "--no-same-owner"]);
  }
  return { rootfs, credentialHosts: Object.keys(auths) };
}
