/**
 * A TCP proxy on 127.0.0.1 that makes a loopback registry look far away: every byte arrives `delayMs` later in
 * each direction (a round trip of twice that, and a TCP handshake's round trip before a new connection's first
 * byte), each connection carries at most `connectionBytesPerSecond` per direction (a long path's per-flow
 * throughput), and all connections together at most `linkBytesPerSecond` towards the client (the link). It
 * forwards bytes as they are, so TLS, HTTP/1.1 and HTTP/2 pass end to end and each tool pays for its own
 * connections. For the benchmark only; tests do not time anything.
 */
import * as net from "node:net";
import type { AddressInfo } from "node:net";

export interface DelayProfile {
  /** One-way delay added in each direction, ms. */
  delayMs: number;
  /** Per connection and direction, bytes per second (undefined: unbounded). */
  connectionBytesPerSecond?: number;
  /** All connections together, towards the client, bytes per second (undefined: unbounded). */
  linkBytesPerSecond?: number;
}

export interface DelayProxy {
  /** `127.0.0.1:port` */
  host: string;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

/** Bytes a direction holds in flight before it stops reading from its sender (TCP's receive window, roughly). */
const WINDOW_BYTES = 4 * 1024 * 1024;

interface Shared {
  /** When the link towards the client is free again (ms, performance.now()). */
  linkFreeAt: number;
}

/** One direction of one connection: paces and delays `from`'s bytes into `to`, in order. */
class DelayedPipe {
  private readonly queue: Array<{ at: number; chunk: Buffer | null }> = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When this connection's direction is free to send the next byte. */
  private freeAt: number;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly profile: DelayProfile,
    private readonly link: Shared | undefined,
    startAt: number,
  ) {
    this.freeAt = startAt;
    from.on("data", (chunk: Buffer) => this.accept(chunk));
    from.on("end", () => this.accept(null));
  }

  private accept(chunk: Buffer | null): void {
    const now = performance.now();
    const bytes = chunk?.length ?? 0;
    // Two budgets, each spent in arrival order: this connection's and the link's; a chunk is through when both are.
    const rate = this.profile.connectionBytesPerSecond;
    this.freeAt = Math.max(now, this.freeAt) + (rate ? (bytes / rate) * 1000 : 0);
    let done = this.freeAt;
    const linkRate = this.profile.linkBytesPerSecond;
    if (this.link && linkRate) {
      this.link.linkFreeAt = Math.max(now, this.link.linkFreeAt) + (bytes / linkRate) * 1000;
      done = Math.max(done, this.link.linkFreeAt);
    }
    this.queue.push({ at: done + this.profile.delayMs, chunk });
    this.queuedBytes += bytes;
    if (this.queuedBytes > WINDOW_BYTES) this.from.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.queue[0].at - performance.now()));
  }

  private flush(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0].at <= now + 0.5) {
      const { chunk } = this.queue.shift()!;
      if (chunk === null) {
        this.to.end();
        if (this.from.writableEnded) this.from.destroy();
        return;
      }
      this.queuedBytes -= chunk.length;
      if (!this.to.destroyed) this.to.write(chunk);
    }
    if (this.queuedBytes <= WINDOW_BYTES / 2 && this.from.isPaused()) this.from.resume();
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export async function startDelayProxy(upstream: { host: string; port: number }, profile: DelayProfile): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  const link: Shared = { linkFreeAt: 0 };
  let accepted = 0;
  // Half-open allowed: a side that ends its sending still gets what is on the way to it.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const server = net.connect({ port: upstream.port, host: upstream.host, allowHalfOpen: true });
    const now = performance.now();
    client.setNoDelay(true);
    server.setNoDelay(true);
    // The client's first byte also waits for the handshake's round trip; answers come back delayed.
    const up = new DelayedPipe(client, server, { delayMs: profile.delayMs, connectionBytesPerSecond: profile.connectionBytesPerSecond }, undefined, now + 2 * profile.delayMs);
    const down = new DelayedPipe(server, client, profile, link, now);
    // A reset or error ends both sides at once; an orderly end travels (delayed) through the pipes.
    const abort = () => {
      up.stop();
      down.stop();
      client.destroy();
      server.destroy();
    };
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on("error", abort);
      socket.on("close", () => sockets.delete(socket));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => accepted,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
