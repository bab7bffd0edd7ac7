import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DigestMismatchError, DigestVerifier } from "../../copier/digest-verifier";

const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function run(chunks: Buffer[], digest: string, size: number): Promise<{ received: Buffer; error?: Error }> {
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      received.push(chunk);
      cb();
    },
  });
  try {
    await pipeline(Readable.from(chunks), new DigestVerifier(digest, size), sink);
    return { received: Buffer.concat(received) };
  } catch (error) {
    return { received: Buffer.concat(received), error: error as Error };
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
});
