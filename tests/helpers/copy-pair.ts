// The set-up of a copy test: a source and a target registry started together (with any other start-up work), a
// release seeded in the source and a work directory, all stopped and removed after the file's tests.
import { seedRelease, type SeededRelease, type SeedOptions } from "./images";
import { removeDir, tempDir } from "./copy-fixture";
import { startRegistry, type RegistryOptions, type TestRegistry } from "./registry";

export interface CopyPair {
  source: TestRegistry;
  target: TestRegistry;
  release: SeededRelease;
  work: string;
}

export interface CopyPairSpec {
  source: RegistryOptions;
  target: RegistryOptions;
  repo: string;
  seed: SeedOptions;
  /** Prefix of the work directory's name. */
  name: string;
  /** More start-up work run alongside the registries (a bundle build, a proxy). */
  alongside?: () => Promise<unknown>;
}

/** Declares the file's beforeAll/afterAll; the returned object's fields are set once beforeAll has run. */
export function useCopyPair(spec: CopyPairSpec): CopyPair {
  const pair = {} as CopyPair;
  beforeAll(async () => {
    [pair.source, pair.target] = await Promise.all([startRegistry(spec.source), startRegistry(spec.target), spec.alongside?.()]);
    pair.release = await seedRelease(pair.source, spec.repo, spec.seed);
    pair.work = tempDir(spec.name);
  });
  afterAll(async () => {
    await Promise.all([pair.source?.stop(), pair.target?.stop()]);
    removeDir(pair.work);
  });
  return pair;
}
