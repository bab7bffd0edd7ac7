// Real registries for tests, bench and demo: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a free
// port, filesystem storage in a temp dir, optional TLS (test CA) and htpasswd or bearer-token auth.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import bcrypt from "bcryptjs";
import { Agent, request } from "undici";
import { testCerts, type TestCerts } from "./certs";
import { startTokenServer, TOKEN_ISSUER, TOKEN_SERVICE, type TokenServer } from "./token-server";

export type RegistryAuth = "none" | "basic" | "token";

export interface RegistryOptions {
  tls?: boolean;
  auth?: RegistryAuth;
  username?: string;
  password?: string;
  tokenTtlSeconds?: number;
  /** Token auth: the registry refuses a token exactly tokenTtlSeconds after issue (see token-server.ts). */
  tokenExactExpiry?: boolean;
  /**
   * Serve this storage root (another registry's `storageDir`) instead of a fresh one, e.g. the same images over
   * TLS and token auth; it is left in place on stop. Only one of the two registries should be written to.
   */
  storageDir?: string;
}

export interface RepoConfigShape {
  username: string;
  password: string;
  insecure: boolean;
  image: string;
  ca?: string;
}

export interface TestRegistry {
  host: string;
  scheme: "http" | "https";
  auth: RegistryAuth;
  username?: string;
  password?: string;
  caPem?: string;
  caFile?: string;
  /** Directory with only `ca.crt` (skopeo `--cert-dir`), when TLS. */
  caDir?: string;
  /** `scheme://host`, no trailing slash. */
  url: string;
  /** The registry's own log, for debugging a failed test. */
  logFile: string;
  /** Filesystem storage root (distribution's layout under docker/registry/v2). */
  storageDir: string;
  tokenServer?: TokenServer;
  /** dest-repo.json / d8-repo.json shape; `image` may be a path (`deckhouse/ee:v1`) or a full reference. */
  repoConfig(image: string): RepoConfigShape;
  /** Full reference in this registry for `repo:tag` or `repo@digest`. */
  ref(pathAndRef: string): string;
  skopeoFlags(): string[];
  /** An undici dispatcher that trusts the registry's CA. */
  dispatcher: Agent;
  stop(): Promise<void>;
}

const MAX_START_ATTEMPTS = 5;
const READY_TIMEOUT_MS = 15_000;

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.stdin?.destroy();
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function registryConfig(opts: {
  port: number;
  storage: string;
  tls?: TestCerts;
  htpasswd?: string;
  token?: { realm: string; certFile: string };
}): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  accesslog:",
    "    disabled: false",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(opts.storage)}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "  redirect:",
    "    disable: true",
    "http:",
    `  addr: 127.0.0.1:${opts.port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
  ];
  if (opts.tls) {
    lines.push("  tls:", `    certificate: ${JSON.stringify(opts.tls.certFile)}`, `    key: ${JSON.stringify(opts.tls.keyFile)}`);
  }
  if (opts.htpasswd) {
    lines.push("auth:", "  htpasswd:", "    realm: images-copier-test", `    path: ${JSON.stringify(opts.htpasswd)}`);
  }
  if (opts.token) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(opts.token.realm)}`,
      `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${JSON.stringify(opts.token.certFile)}`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Ready when OUR registry logged that it listens (another process may have raced us to the port and be the one
 * answering) and /v2/ answers.
 */
async function waitReady(url: string, dispatcher: Agent, child: ChildProcess, logFile: string, port: number): Promise<"ready" | "exited" | "timeout"> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const listening = `listening on 127.0.0.1:${port}`;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return "exited";
    if (!readFileSync(logFile, "utf8").includes(listening)) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    try {
      const res = await request(`${url}/v2/`, { dispatcher, headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200 || res.statusCode === 401) return "ready";
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return "timeout";
}

// The registry runs under a small shell that holds a pipe from this process: when the pipe closes (stop(), or this
// process dying in any way, even SIGKILL), the shell stops the registry. No orphaned registries on a killed test run.
// (sh gives background jobs /dev/null as stdin, hence the pipe is passed on as fd 3.)
const WATCHDOG =
  'exec 3<&0; docker-registry serve "$1" & reg=$!; { cat <&3 >/dev/null; kill -TERM "$reg" 2>/dev/null; } & exec 3<&-; wait "$reg"';

function spawnRegistry(configFile: string, logFd: number): ChildProcess {
  return spawn("sh", ["-c", WATCHDOG, "registry-watchdog", configFile], { stdio: ["pipe", logFd, logFd] });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    child.stdin?.destroy();
    live.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      live.delete(child);
      resolve();
    });
    child.stdin?.end();
  });
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  installExitHook();
  const auth = opts.auth ?? "none";
  const tls = opts.tls ?? false;
  const username = auth === "none" ? undefined : (opts.username ?? "tester");
  const password = auth === "none" ? undefined : (opts.password ?? `pw-${randomBytes(6).toString("hex")}`);
  const certs = tls || auth === "token" ? await testCerts() : undefined;
  const scheme = tls ? "https" : "http";

  const dir = mkdtempSync(join(tmpdir(), "images-copier-registry-"));
  liveDirs.add(dir);
  const storage = opts.storageDir ?? join(dir, "storage");
  if (!opts.storageDir) mkdirSync(storage);
  const logFile = join(dir, "registry.log");
  const dispatcher = new Agent({ connect: certs && tls ? { ca: certs.caPem } : {}, keepAliveTimeout: 2000 });

  let htpasswd: string | undefined;
  if (auth === "basic") {
    htpasswd = join(dir, "htpasswd");
    // bcrypt's minimum cost: distribution checks the hash on every request.
    writeFileSync(htpasswd, `${username}:${bcrypt.hashSync(password as string, 4)}\n`);
  }
  let tokenServer: TokenServer | undefined;
  if (auth === "token") {
    tokenServer = await startTokenServer({
      certs: certs as TestCerts,
      tls,
      username: username as string,
      password: password as string,
      ttlSeconds: opts.tokenTtlSeconds,
      exactExpiry: opts.tokenExactExpiry,
    });
  }

  const cleanup = async (child?: ChildProcess) => {
    if (child) await stopChild(child);
    await tokenServer?.stop();
    await dispatcher.close().catch(() => undefined);
    liveDirs.delete(dir);
    // KEEP_REGISTRY_LOGS=1 keeps the registry's dir (config, storage, registry.log) for debugging.
    if (process.env.KEEP_REGISTRY_LOGS) process.stderr.write(`registry files kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  };

  let lastFailure = "";
  for (let attempt = 1; attempt <= MAX_START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const configFile = join(dir, "config.yml");
    writeFileSync(
      configFile,
      registryConfig({
        port,
        storage,
        tls: tls ? certs : undefined,
        htpasswd,
        token: tokenServer ? { realm: tokenServer.realm, certFile: (certs as TestCerts).signerCertFile } : undefined,
      }),
    );
    const logFd = openSync(logFile, "a");
    const child = spawnRegistry(configFile, logFd);
    closeSync(logFd);
    live.add(child);
    child.once("exit", () => live.delete(child));
    const host = `127.0.0.1:${port}`;
    const url = `${scheme}://${host}`;
    const state = await waitReady(url, dispatcher, child, logFile, port);
    if (state === "ready") {
      return makeHandle({ host, scheme, auth, username, password, certs, tls, url, logFile, storageDir: storage, tokenServer, dispatcher, stop: () => cleanup(child) });
    }
    await stopChild(child);
    const log = readFileSync(logFile, "utf8");
    lastFailure = `${state}; log tail: ${log.slice(-600)}`;
    if (!/address already in use/i.test(log)) break;
    writeFileSync(logFile, ""); // the next attempt must not see this attempt's lines
  }
  await cleanup();
  throw new Error(`docker-registry did not start: ${lastFailure}`);
}

function makeHandle(p: {
  host: string;
  scheme: "http" | "https";
  auth: RegistryAuth;
  username?: string;
  password?: string;
  certs?: TestCerts;
  tls: boolean;
  url: string;
  logFile: string;
  storageDir: string;
  tokenServer?: TokenServer;
  dispatcher: Agent;
  stop: () => Promise<void>;
}): TestRegistry {
  let stopped: Promise<void> | undefined;
  const ref = (pathAndRef: string) => (pathAndRef.startsWith(`${p.host}/`) ? pathAndRef : `${p.host}/${pathAndRef}`);
  return {
    host: p.host,
    scheme: p.scheme,
    auth: p.auth,
    username: p.username,
    password: p.password,
    caPem: p.tls ? p.certs?.caPem : undefined,
    caFile: p.tls ? p.certs?.caFile : undefined,
    caDir: p.tls ? p.certs?.caDir : undefined,
    url: p.url,
    logFile: p.logFile,
    storageDir: p.storageDir,
    tokenServer: p.tokenServer,
    dispatcher: p.dispatcher,
    ref,
    repoConfig(image: string): RepoConfigShape {
      const config: RepoConfigShape = {
        username: p.username ?? "",
        password: p.password ?? "",
        insecure: !p.tls,
        image: ref(image),
      };
      if (p.tls && p.certs) config.ca = p.certs.caPem;
      return config;
    },
    skopeoFlags(): string[] {
      const flags = p.tls && p.certs ? ["--tls-verify=true", `--cert-dir=${p.certs.caDir}`] : ["--tls-verify=false"];
      flags.push(p.username !== undefined ? `--creds=${p.username}:${p.password}` : "--no-creds");
      return flags;
    },
    stop() {
      stopped ??= p.stop();
      return stopped;
    },
  };
}
