#!/usr/bin/env node
// Runs jest and ends with its totals as one plain line, "N passed, N failed", for people and CI alike.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const out = path.join(root, ".test-results", "jest.json");
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.rmSync(out, { force: true });

const jest = require.resolve("jest/bin/jest");
const run = spawnSync(process.execPath, [jest, "--json", `--outputFile=${out}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});

if (!fs.existsSync(out)) {
  console.error("jest wrote no results");
  process.exit(run.status || 1);
}
const results = JSON.parse(fs.readFileSync(out, "utf8"));
const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
console.log(`${results.numPassedTests} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
