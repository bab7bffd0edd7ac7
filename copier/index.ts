// The copier's only public entry: everything outside copier/ imports from here.

export * from "./reference";
export {
  repoConfigSchema,
  imagesListSchema,
  type RepoConfig,
  type ImagesList,
  distinctImageValues,
  imagesListDigest,
  loadConfigDir,
  parseRepoConfig,
  parseImagesList,
  ConfigError,
} from "./config";
export { copyRelease, type CopyReleaseOptions, type CopyReport, type ImageResult } from "./copy";
export { checkImagesExist, type ExistenceResult, type RegistryAccess } from "./check-images";
export { checkBearerAuth, type BearerCheckResult, type BearerCheckAccess } from "./check-bearer";
export { CHECK_LINE_PREFIX, formatCheckLine, parseCheckLine, type CheckReport } from "./check-command";
export { proxySettingsFromEnv, ProxyConfigError, type ProxySettings } from "./transport/proxy";
export { RESULT_LINE_PREFIX, PROGRESS_LINE_PREFIX, formatResultLine, parseResultLine, type ResultSummary } from "./result-line";
export { runCli } from "./cli";
export { decodeAuth, credentialsFor } from "./docker-config";
export { formatBytes, formatProgress, type ProgressSnapshot } from "./progress";
export { inspectCopierImage, ImageNotFoundError, type InspectedCopierImage } from "./image/inspect";
export { LABELS as COPIER_IMAGE_LABELS } from "./image/image-config";
