// The JSON report of a run (`--report FILE`), written atomically: a temp file in the same directory, then rename.

import { rename, writeFile, rm } from "node:fs/promises";
import * as path from "node:path";
import type { CopyReport } from "./copy";

export async function writeReport(file: string, report: CopyReport): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`cannot write report ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
