// A tiny HTTP server on 127.0.0.1 for behaviour a real registry cannot be made to show on demand. With `tls` it
// serves HTTPS and, on the same port, plain HTTP (told apart by the first byte a client sends), so a test sees
// what a client would send in clear to that very host and port.
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { Duplex } from "node:stream";

export interface Seen {
  method: string;
  url: string;
  authorization?: string;
  /** How the request came: over TLS or in clear. */
  scheme: "http" | "https";
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen[]) => void;

export interface HttpStub {
  /** `127.0.0.1:port`. */
  host: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** First byte of a TLS handshake record. */
const TLS_HANDSHAKE = 0x16;

/** The socket as a stream that gives `first` (already read off it) again, then the rest. */
function replaying(socket: net.Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => void socket.write(chunk, callback),
    final: (callback) => void socket.end(callback),
    destroy: (error, callback) => {
      socket.destroy();
      callback(error);
    },
  });
  duplex.push(first);
  socket.on("data", (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on("end", () => duplex.push(null));
  socket.on("close", () => duplex.destroy());
  socket.on("error", () => duplex.destroy());
  return duplex;
}

export async function serveStub(handler: Handler, opts: { tls?: { key: string; cert: string } } = {}): Promise<HttpStub> {
  const seen: Seen[] = [];
  const serve = (scheme: Seen["scheme"]) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization, scheme });
    handler(req, res, seen);
  };
  const plain = http.createServer(serve("http"));
  const secure = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, serve("https")) : undefined;
  const sockets = new Set<net.Socket>();
  const server = secure
    ? net.createServer((socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        socket.once("data", (first: Buffer) => {
          (first[0] === TLS_HANDSHAKE ? secure : plain).emit("connection", replaying(socket, first));
        });
      })
    : plain;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        plain.closeAllConnections();
        secure?.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
