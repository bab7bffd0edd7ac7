import { formatResultLine, parseResultLine, RESULT_LINE_PREFIX } from "../../copier/result-line";
import { formatBytes, formatProgress } from "../../copier/progress";
import { imagesListDigest, PROGRESS_LINE_PREFIX } from "../../copier";
import { Pool } from "../../copier/pool";

describe("result and progress lines", () => {
  const summary = { status: "failed" as const, images: 3, copied: 1, skipped: 1, failed: 1, bytes: 42, durationMs: 5, target: "r/x:t", error: "boom" };

  it("round-trips the result line and finds the last one in a whole log", () => {
    const line = formatResultLine(summary);
    expect(line.startsWith(RESULT_LINE_PREFIX)).toBe(true);
    const log = [`${RESULT_LINE_PREFIX}{"status":"succeeded"}`, "noise", `${PROGRESS_LINE_PREFIX}x`, line, ""].join("\n");
    expect(parseResultLine(log)).toEqual(summary);
    expect(parseResultLine("no result here")).toBeUndefined();
    expect(parseResultLine(`${RESULT_LINE_PREFIX}{broken`)).toBeUndefined();
  });

  it("ignores a result line that does not carry the whole summary", () => {
    expect(parseResultLine(`${RESULT_LINE_PREFIX}{"status":"succeeded"}\n`)).toBeUndefined();
    expect(parseResultLine(`${PROGRESS_LINE_PREFIX}images 1/3\n`)).toBeUndefined();
  });

  it("carries what was copied: the source image, its digest and the list's digest", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    const line = formatResultLine({ ...summary, source: "r/d8:v1", sourceDigest: digest, imagesDigest: digest });
    expect(parseResultLine(line)).toMatchObject({ source: "r/d8:v1", sourceDigest: digest, imagesDigest: digest });
    // a malformed digest makes the whole line unusable rather than half-trusted
    expect(parseResultLine(formatResultLine({ ...summary, sourceDigest: "sha256:nothex" }))).toBeUndefined();
  });

  it("names a list by its distinct values: key names and order do not change the digest, a value does", () => {
    const a = imagesListDigest({ common: { x: "v1", y: "v2" }, other: { z: "v1" } });
    expect(a).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(imagesListDigest({ zeta: { q: "v2" }, alpha: { p: "v1" } })).toBe(a);
    expect(imagesListDigest({ common: { x: "v1", y: "v3" } })).not.toBe(a);
  });

  it("prints sizes in binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(5 * 1024 ** 3)).toBe("5.00 GiB");
  });

  it("prints progress in the contract's shape", () => {
    const text = formatProgress({
      imagesTotal: 340, imagesDone: 12, copied: 10, skipped: 2, failed: 0,
      bytes: 1.2 * 1024 ** 3, elapsedMs: 27_000, throughput: 45.3 * 1024 ** 2, etaMs: 192_000,
    });
    expect(text).toBe("images 12/340 (copied 10, skipped 2, failed 0), 1.20 GiB, 45.3 MiB/s, ETA 3m12s");
  });
});

describe("pool", () => {
  it("never runs more tasks at once than its size and runs them all", async () => {
    const pool = new Pool(3);
    let active = 0;
    let peak = 0;
    const done = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pool.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setImmediate(r));
          active--;
          return i;
        }),
      ),
    );
    expect(done).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(3);
  });

  it("frees the slot of a failed task", async () => {
    const pool = new Pool(1);
    await expect(pool.run(async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    await expect(pool.run(async () => "next")).resolves.toBe("next");
  });
});
