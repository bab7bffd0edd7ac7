// A throw-away CA, a server certificate for 127.0.0.1, localhost and registry.proxy.test (a name only the test
// proxy resolves) and an RSA token-signing certificate, made with the openssl CLI once and kept in a per-user temp
// dir, so test workers, bench and demo share one set instead of each leaving its own behind.
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestCerts {
  dir: string;
  caPem: string;
  caFile: string;
  /** Directory holding only `ca.crt`, the layout skopeo's `--cert-dir` expects. */
  caDir: string;
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  /** Self-signed RSA certificate and key that sign registry tokens (RS256). */
  signerCertFile: string;
  signerCertPem: string;
  signerKeyPem: string;
  /** Base64 DER of the signer certificate, for a JWT `x5c` header. */
  signerCertDerBase64: string;
}

const CACHE = Symbol.for("images-copier.test-certs");
type CertGlobal = typeof globalThis & { [CACHE]?: Promise<TestCerts> };

export function testCerts(): Promise<TestCerts> {
  const g = globalThis as CertGlobal;
  g[CACHE] ??= sharedCerts().catch((error) => {
    delete g[CACHE];
    throw error;
  });
  return g[CACHE];
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run("openssl", args, { cwd, timeout: 30_000 });
}

// Bump when the files or their contents change.
const LAYOUT = "v2";
const FILES = ["ca.crt", "server.crt", "server.key", "signer.crt", "signer.key", "ca-dir/ca.crt"];

function usable(dir: string): boolean {
  try {
    const stat = lstatSync(dir);
    const mine = process.getuid === undefined || stat.uid === process.getuid();
    return stat.isDirectory() && mine && (stat.mode & 0o077) === 0 && FILES.every((f) => existsSync(join(dir, f)));
  } catch {
    return false;
  }
}

async function sharedCerts(): Promise<TestCerts> {
  const uid = process.getuid?.() ?? "user";
  const dir = join(tmpdir(), `images-copier-test-certs-${LAYOUT}-${uid}`);
  if (usable(dir)) return readCerts(dir);
  const fresh = await makeCerts();
  try {
    renameSync(fresh, dir); // atomic: a reader sees all files or none
  } catch {
    // Another process won the race (or a stale unusable dir is in the way): use theirs, or our own private copy.
    if (usable(dir)) {
      rmSync(fresh, { recursive: true, force: true });
      return readCerts(dir);
    }
    process.once("exit", () => rmSync(fresh, { recursive: true, force: true }));
    return readCerts(fresh);
  }
  return readCerts(dir);
}

async function makeCerts(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "images-copier-certs-"));
  try {
    await generateInto(dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return dir;
}

async function generateInto(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

  await openssl(
    ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650", "-subj", "/CN=images-copier test CA",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    dir,
  );
  await openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], dir);
  writeFileSync(
    join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:registry.proxy.test\nbasicConstraints=CA:FALSE\n" +
      "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
      "-days", "825", "-extfile", "server.ext"],
    dir,
  );
  await openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "signer.key", "-out", "signer.crt", "-days", "3650",
      "-subj", "/CN=images-copier test token signer"],
    dir,
  );

  mkdirSync(join(dir, "ca-dir"));
  copyFileSync(join(dir, "ca.crt"), join(dir, "ca-dir", "ca.crt"));
  for (const leftover of ["server.csr", "server.ext", "ca.srl"]) rmSync(join(dir, leftover), { force: true });
}

function readCerts(dir: string): TestCerts {
  const caDir = join(dir, "ca-dir");
  const signerCertPem = readFileSync(join(dir, "signer.crt"), "utf8");
  return {
    dir,
    caPem: readFileSync(join(dir, "ca.crt"), "utf8"),
    caFile: join(dir, "ca.crt"),
    caDir,
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key"),
    certPem: readFileSync(join(dir, "server.crt"), "utf8"),
    keyPem: readFileSync(join(dir, "server.key"), "utf8"),
    signerCertFile: join(dir, "signer.crt"),
    signerCertPem,
    signerKeyPem: readFileSync(join(dir, "signer.key"), "utf8"),
    signerCertDerBase64: signerCertPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, ""),
  };
}
