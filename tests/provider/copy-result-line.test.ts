// The waiter's reader of the copier's last line agrees with the copier's own writer (the contract between them).
import { formatResultLine, parseResultLine } from "../../copier";
import { findResultLine, formatBytes } from "../../components/copier-result";

test("a result line written by the copier is read back by the copy stack, last one wins", () => {
  const first = { status: "failed" as const, images: 3, copied: 1, skipped: 0, failed: 2, bytes: 10, durationMs: 5, target: "r.example/x:t" };
  const last = { ...first, status: "succeeded" as const, copied: 3, failed: 0, error: undefined };
  const log = ["images-copier progress: images 1/3", formatResultLine(first), "noise", formatResultLine(last), ""].join("\n");
  expect(findResultLine(log)).toEqual(parseResultLine(log));
  expect(findResultLine(log)?.status).toBe("succeeded");
});

test("no or malformed result line gives undefined", () => {
  expect(findResultLine("images-copier progress: images 1/3\n")).toBeUndefined();
  expect(findResultLine('images-copier result: {"status":"succeeded"}\n')).toBeUndefined();
  expect(findResultLine("images-copier result: {not json\n")).toBeUndefined();
});

test("bytes are shown in binary units", () => {
  expect(formatBytes(512)).toBe("512 B");
  expect(formatBytes(1536)).toBe("1.50 KiB");
  expect(formatBytes(5 * 1024 ** 3)).toBe("5.00 GiB");
});
