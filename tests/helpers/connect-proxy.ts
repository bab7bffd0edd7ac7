// An HTTP CONNECT proxy of the test suite, as corporate networks put between a workstation and the internet. It
// resolves names under `.proxy.test` to 127.0.0.1 itself, so a client can reach `registry.proxy.test:PORT` only
// through it (the name has no DNS entry), and it refuses any other destination. It may demand Basic credentials.
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";

export const PROXIED_HOST = "registry.proxy.test";

export interface ConnectProxy {
  /** `127.0.0.1:port`. */
  host: string;
  /** `host:port` of every tunnel opened, in order. */
  tunnels: string[];
  /** Requests refused (bad credentials or destination), as `status host:port`. */
  refused: string[];
  close(): Promise<void>;
}

export async function startConnectProxy(credentials?: { username: string; password: string }): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const refused: string[] = [];
  const sockets = new Set<net.Socket>();
  const expected = credentials && `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  const server = http.createServer((_req, res) => res.writeHead(405).end("CONNECT only\n"));
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    const destination = req.url ?? "";
    const refuse = (status: string) => {
      refused.push(`${status.split(" ")[0]} ${destination}`);
      client.end(`HTTP/1.1 ${status}\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n`);
    };
    if (expected && req.headers["proxy-authorization"] !== expected) return refuse("407 Proxy Authentication Required");
    const m = /^([^:]+):(\d+)$/.exec(destination);
    if (!m || !m[1].endsWith(".proxy.test")) return refuse("502 Bad Gateway");
    const upstream = net.connect(Number(m[2]), "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.once("connect", () => {
      tunnels.push(destination);
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
