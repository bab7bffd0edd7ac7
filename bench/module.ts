/**
 * The corpus's module of ModuleSource deckhouse: `<repo>/modules/console:v1.2.3` whose images_digests.json names
 * three components (one a multi-arch index), pushed by digest only as Deckhouse's are, and its
 * `release:stable` image. Our copier gets it with `--with-modules`; `skopeo sync` is given the module's two
 * repositories, where it finds only the tags (the components have none), so it moves a little less than we do.
 */

import { pushImage, pushMultiArch } from "../tests/helpers/images";
import { pushModuleImage, pushModuleRelease } from "../tests/helpers/module-image";
import type { TestRegistry } from "../tests/helpers/registry";
import { writeJson } from "./measure";

export interface BenchModule {
  /** The `--with-modules` file. */
  file: string;
  /** The module's repositories below the registry, for skopeo sync. */
  repos: string[];
  /** Images our copier copies for it: the module image, its release image and its components. */
  images: number;
}

export async function addBenchModule(source: TestRegistry, repo: string, dir: string, scale: number): Promise<BenchModule> {
  const modules = `${repo}/modules`;
  const size = (mb: number) => Math.max(4096, Math.round(mb * 1024 * 1024 * scale));
  const backend = await pushImage(source, `${modules}/console`, { format: "oci", seed: "bench-console-backend", layers: [{ size: size(12), seed: "bench-console-backend" }] });
  const frontend = await pushMultiArch(source, `${modules}/console`, { format: "oci", seed: "bench-console-frontend", layers: [{ size: size(6), seed: "bench-console-frontend" }] });
  const api = await pushImage(source, `${modules}/console`, { format: "docker", seed: "bench-console-api", layers: [{ size: size(8), seed: "bench-console-api" }] });
  await pushModuleImage(source, modules, "console", "v1.2.3", { console: { backend: backend.digest, frontend: frontend.digest, api: api.digest } });
  await pushModuleRelease(source, modules, "console", "v1.2.3", "stable");
  return {
    file: writeJson(dir, "modules.json", [{ name: "console", version: "v1.2.3", channel: "stable" }]),
    repos: [`${modules}/console`, `${modules}/console/release`],
    images: 5,
  };
}


