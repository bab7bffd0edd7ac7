// Cuts one stream into consecutive pieces of exact lengths, each its own stream, without buffering more than the
// chunk the source last gave: a chunked upload sends a blob as several PATCH bodies while it is still streaming.

import { Readable } from "node:stream";

export class ByteCursor {
  private readonly source: AsyncIterator<Buffer>;
  private carry: Buffer | undefined;

  constructor(stream: Readable) {
    this.source = stream[Symbol.asyncIterator]();
  }

  /** The next `length` bytes as a stream; take the pieces in order, each after the previous one was consumed. */
  take(length: number): Readable {
    return Readable.from(this.pieces(length), { objectMode: false });
  }

  private async *pieces(length: number): AsyncGenerator<Buffer> {
    let left = length;
    while (left > 0) {
      let chunk = this.carry;
      this.carry = undefined;
      if (!chunk) {
        const next = await this.source.next();
        if (next.done) throw new Error(`the blob stream ended ${left} bytes early`);
        chunk = next.value;
      }
      if (chunk.length > left) {
        this.carry = chunk.subarray(left);
        chunk = chunk.subarray(0, left);
      }
      left -= chunk.length;
      yield chunk;
    }
  }
}
