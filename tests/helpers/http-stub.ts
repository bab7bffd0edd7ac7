// A tiny HTTP server on 127.0.0.1 for behaviour a real registry cannot be made to show on demand.
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface Seen {
  method: string;
  url: string;
  authorization?: string;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen[]) => void;

export interface HttpStub {
  /** `127.0.0.1:port`. */
  host: string;
  seen: Seen[];
  close(): Promise<void>;
}

export async function serveStub(handler: Handler): Promise<HttpStub> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization });
    handler(req, res, seen);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
