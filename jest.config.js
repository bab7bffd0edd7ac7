/** Unit, Pulumi-mock, provider and real-registry integration tests. Registries are started per test file. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  setupFilesAfterEnv: ["<rootDir>/tests/helpers/close-inspector-sessions.ts"],
  testTimeout: 120000,
  maxWorkers: 2,
  // A worker's heap is mostly garbage of earlier files (about 500 MB by the end); freeing it made the last exit
  // slower than the 500 ms jest waits on a loaded machine. A worker above this is replaced between files.
  workerIdleMemoryLimit: "300MB",
};
