// An image list given by file (`imagesFile`), checked with the copier's own parser, so a list the copier would
// refuse fails here, at preview, before anything is created in the cluster.
import { readFileSync } from "node:fs";
import { parseImagesList, type ImagesList } from "../../copier";

export function readImagesFile(path: string): ImagesList {
  const what = `images-copier:imagesFile: ${path}`;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`${what}: cannot read it: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${what}: not JSON`);
  }
  try {
    return parseImagesList(json, what);
  } catch (error) {
    // one line: the copier's reason, without a stack of issues
    throw new Error(`${(error as Error).message.split("\n")[0]} (expected {"<module>": {"<image>": "<tag or sha256 digest>"}}, exactly two levels)`);
  }
}
