#!/usr/bin/env node
// Bundles the copier CLI into one minified CommonJS file, dist/images-copier.cjs (node20, every dependency
// inside), small enough for a ConfigMap. Exports bundleCopier(); runs it when executed directly.
"use strict";
const path = require("node:path");
const fs = require("node:fs");

const root = path.resolve(__dirname, "..");
const MAX_BYTES = 900 * 1024;

function bundleCopier() {
  const esbuild = require("esbuild");
  const outfile = path.join(root, "dist", "images-copier.cjs");
  const entry = path.join(root, "dist", ".images-copier-entry.ts");
  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  fs.writeFileSync(
    entry,
    'import { runCli } from "../copier/cli";\n' +
      "runCli(process.argv.slice(2), { bundleFile: __filename }).then((code) => { process.exitCode = code; }, (err) => {\n" +
      '  process.stderr.write(`images-copier: error: ${err && err.message ? err.message : String(err)}\\n`);\n' +
      "  process.exitCode = 1;\n" +
      "});\n",
  );
  try {
    esbuild.buildSync({
      entryPoints: [entry],
      outfile,
      bundle: true,
      minify: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      legalComments: "none",
      logLevel: "error",
      banner: { js: "#!/usr/bin/env node" },
    });
  } finally {
    fs.rmSync(entry, { force: true });
  }
  const size = fs.statSync(outfile).size;
  if (size > MAX_BYTES) throw new Error(`${outfile} is ${size} bytes, above the ${MAX_BYTES}-byte limit`);
  return outfile;
}

module.exports = { bundleCopier };

if (require.main === module) {
  // `npm ci --omit=dev` runs prepare without esbuild: keep an existing bundle instead of failing the install.
  if (process.env.npm_lifecycle_event === "prepare") {
    try {
      require.resolve("esbuild");
    } catch {
      console.log("scripts/bundle.js: esbuild is not installed (production install); bundle not rebuilt");
      process.exit(0);
    }
  }
  const file = bundleCopier();
  console.log(`${path.relative(root, file)}: ${fs.statSync(file).size} bytes`);
}
