/**
 * A TCP proxy on 127.0.0.1 that makes a loopback registry look far away: every byte arrives `delayMs` later in
 * each direction (a round trip of twice that, and a TCP handshake's round trip before a new connection's first
 * byte), each connection carries at most `connectionBytesPerSecond` per direction (a long path's per-flow
 * throughput), and all connections together at most `linkBytesPerSecond` towards the client (the link, shared
 * in the order the connections' bytes become ready to go, so no connection's backlog holds up the others). It
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
  /** Bytes delivered towards the clients so far. */
  bytesDown(): number;
  stop(): Promise<void>;
}

/** Bytes a direction holds before it stops reading from its sender (TCP's receive window, roughly). */
const WINDOW_BYTES = 4 * 1024 * 1024;
/** Timers fire on whole milliseconds: work due within this much is done now (its times stay exact). */
const SLACK_MS = 1;

interface Chunk {
  bytes: Buffer | null; // null: the sender ended
  /** When the connection's own rate lets it go, and when it is through that rate. */
  readyAt: number;
  paceDone: number;
}

/** One direction of one connection: paces `from`'s bytes, hands them to the link (if any), delivers them late. */
class Pipe {
  readonly waiting: Chunk[] = [];
  private readonly arriving: Array<{ at: number; bytes: Buffer | null }> = [];
  private queued = 0;
  private paceAt: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly profile: DelayProfile,
    private readonly link: Link | undefined,
    startAt: number,
  ) {
    this.paceAt = startAt;
    from.on("data", (bytes: Buffer) => this.accept(bytes));
    from.on("end", () => this.accept(null));
  }

  private accept(bytes: Buffer | null): void {
    const size = bytes?.length ?? 0;
    const rate = this.profile.connectionBytesPerSecond;
    const readyAt = Math.max(performance.now(), this.paceAt);
    this.paceAt = readyAt + (rate ? (size / rate) * 1000 : 0);
    this.queued += size;
    if (this.queued > WINDOW_BYTES) this.from.pause();
    const chunk = { bytes, readyAt, paceDone: this.paceAt };
    if (this.link) {
      this.waiting.push(chunk);
      this.link.pump();
    } else this.deliver(chunk.paceDone, bytes);
  }

  /** `bytes` reach the other side at `throughAt` plus the delay. */
  deliver(throughAt: number, bytes: Buffer | null): void {
    this.arriving.push({ at: throughAt + this.profile.delayMs, bytes });
    if (!this.timer) this.schedule();
  }

  private schedule(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.arriving.length > 0 && this.arriving[0].at <= now + SLACK_MS) {
      const { bytes } = this.arriving.shift()!;
      if (bytes === null) {
        this.to.end();
        if (this.from.writableEnded) this.from.destroy();
        return;
      }
      this.queued -= bytes.length;
      if (!this.to.destroyed) this.to.write(bytes);
    }
    if (this.queued <= WINDOW_BYTES / 2 && this.from.isPaused()) this.from.resume();
    if (this.arriving.length > 0) this.timer = setTimeout(() => this.schedule(), this.arriving[0].at - now);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.link?.remove(this);
  }
}

/** The link towards the clients: sends the ready chunk that became ready first, at `rate` bytes per second. */
class Link {
  private readonly pipes = new Set<Pipe>();
  private freeAt = 0;
  private timer: NodeJS.Timeout | undefined;
  delivered = 0;

  constructor(private readonly rate: number | undefined) {}

  add(pipe: Pipe): void {
    this.pipes.add(pipe);
  }

  remove(pipe: Pipe): void {
    this.pipes.delete(pipe);
  }

  pump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (;;) {
      let next: Pipe | undefined;
      for (const pipe of this.pipes) {
        const head = pipe.waiting[0];
        if (head && (!next || head.readyAt < next.waiting[0].readyAt)) next = pipe;
      }
      if (!next) return;
      const chunk = next.waiting[0];
      const start = Math.max(chunk.readyAt, this.freeAt);
      const now = performance.now();
      if (start > now + SLACK_MS) {
        this.timer = setTimeout(() => this.pump(), start - now);
        return;
      }
      next.waiting.shift();
      const size = chunk.bytes?.length ?? 0;
      this.freeAt = start + (this.rate ? (size / this.rate) * 1000 : 0);
      this.delivered += size;
      next.deliver(Math.max(this.freeAt, chunk.paceDone), chunk.bytes);
    }
  }
}

export async function startDelayProxy(upstream: { host: string; port: number }, profile: DelayProfile): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  const link = new Link(profile.linkBytesPerSecond);
  let accepted = 0;
  // Half-open allowed: a side that ends its sending still gets what is on the way to it.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const server = net.connect({ port: upstream.port, host: upstream.host, allowHalfOpen: true });
    const now = performance.now();
    client.setNoDelay(true);
    server.setNoDelay(true);
    // The client's first byte also waits for the handshake's round trip; answers come back over the link.
    const up = new Pipe(client, server, profile, undefined, now + 2 * profile.delayMs);
    const down = new Pipe(server, client, profile, link, now);
    link.add(down);
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
      socket.on("close", () => {
        sockets.delete(socket);
        if (client.destroyed && server.destroyed) abort();
      });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => accepted,
    bytesDown: () => link.delivered,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
