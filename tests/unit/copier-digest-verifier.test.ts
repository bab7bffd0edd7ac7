import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BATCH_BYTES, DigestMismatchError, DigestVerifier } from "../../copier/digest-verifier";

const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function run(chunks: Buffer[], digest: string, size: number): Promise<{ received: Buffer; writes: number[]; error?: Error }> {
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      received.push(chunk);
      cb();
    },
  });
  try {
    await pipeline(Readable.from(chunks), new DigestVerifier(digest, size), sink);
    return { received: Buffer.concat(received), writes: received.map((b) => b.length) };
  } catch (error) {
    return { received: Buffer.concat(received), writes: received.map((b) => b.length), error: error as Error };
  }
}

describe("digest verifier", () => {
  const chunks = [Buffer.from("first chunk "), Buffer.from("second chunk "), Buffer.from("last chunk")];
  const all = Buffer.concat(chunks);

  it("passes every byte through when size and digest match", async () => {
    const out = await run(chunks, digestOf(all), all.length);
    expect(out.error).toBeUndefined();
    expect(out.received.equals(all)).toBe(true);
  });

  it("fails on a digest mismatch and never releases the last chunk", async () => {
    const tampered = [chunks[0], chunks[1], Buffer.from("LAST chunk")];
    const out = await run(tampered, digestOf(all), all.length);
    expect(out.error).toBeInstanceOf(DigestMismatchError);
    expect(out.error?.message).toMatch(/does not match its digest/);
    expect(out.received.length).toBeLessThan(all.length);
  });

  it("fails when the stream is shorter or longer than the declared size", async () => {
    const short = await run(chunks.slice(0, 2), digestOf(all), all.length);
    expect(short.error?.message).toMatch(/expected/);
    const long = await run([...chunks, Buffer.from("x")], digestOf(all), all.length);
    expect(long.error).toBeInstanceOf(DigestMismatchError);
    expect(long.received.length).toBeLessThan(all.length + 1);
  });

  it("handles a single-chunk blob and an empty blob", async () => {
    expect((await run([all], digestOf(all), all.length)).received.equals(all)).toBe(true);
    const empty = Buffer.alloc(0);
    expect((await run([], digestOf(empty), 0)).error).toBeUndefined();
    expect((await run([], `sha256:${"0".repeat(64)}`, 0)).error).toBeInstanceOf(DigestMismatchError);
  });

  it("gathers small chunks into batches (fewer, larger writes) and holds the last batch until the digest is proven", async () => {
    // 16 KiB chunks, as a TLS source delivers them; 2.5 batches in all
    const blob = Buffer.alloc(BATCH_BYTES * 2.5);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 31) % 251;
    const small = Array.from({ length: blob.length / 16384 }, (_, i) => blob.subarray(i * 16384, (i + 1) * 16384));
    const ok = await run(small, digestOf(blob), blob.length);
    expect(ok.error).toBeUndefined();
    expect(ok.received.equals(blob)).toBe(true);
    expect(ok.writes).toEqual([BATCH_BYTES, BATCH_BYTES, BATCH_BYTES / 2]);

    const counted: number[] = [];
    const progress = new DigestVerifier(digestOf(blob), blob.length, (n) => counted.push(n));
    await pipeline(Readable.from(small), progress, new Writable({ write: (_c, _e, cb) => cb() }));
    expect(counted).toHaveLength(small.length); // progress counts bytes as they arrive, not per batch

    // chunks of 64 KiB and more pass as they are (no copy)
    const large = Array.from({ length: 5 }, (_, i) => blob.subarray(i * 65536, (i + 1) * 65536));
    const direct = await run(large, digestOf(blob.subarray(0, 5 * 65536)), 5 * 65536);
    expect(direct.writes).toEqual([65536, 65536, 65536, 65536, 65536]);

    const wrong = await run(small, digestOf(Buffer.from("other")), blob.length);
    expect(wrong.error).toBeInstanceOf(DigestMismatchError);
    expect(wrong.received.length).toBeLessThanOrEqual(BATCH_BYTES);
  });
});
