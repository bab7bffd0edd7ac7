/** Unit, Pulumi-mock, provider and real-registry integration tests. Registries are started per test file. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  setupFilesAfterEnv: ["<rootDir>/tests/helpers/close-inspector-sessions.ts"],
  testTimeout: 120000,
  maxWorkers: 2,
};
