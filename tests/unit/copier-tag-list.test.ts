// The target's tag list, read once per repository to spare a HEAD per image on a fresh target. The local
// docker-registry never paginates, so a stub plays registries that do (Link headers, relative and absolute).
import { RepositoryClient } from "../../copier/registry/client";
import { RegistryTransport } from "../../copier/transport/transport";
import { serveStub, type HttpStub } from "../helpers/http-stub";

const fast = { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 2, maxElapsedMs: 5_000, maxRetryAfterMs: 100 };

describe("RepositoryClient.listTags", () => {
  let stub: HttpStub | undefined;
  afterEach(async () => {
    await stub?.close();
    stub = undefined;
  });

  function client(host: string): RepositoryClient {
    return new RepositoryClient(new RegistryTransport(host, { insecure: true, retry: fast }), "client/deckhouse", ["pull"]);
  }

  it("follows next links, relative and absolute, and unions the pages", async () => {
    stub = await serveStub((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/v2/") return void res.writeHead(200).end();
      const json = { "content-type": "application/json" };
      const last = url.searchParams.get("last");
      if (!last) {
        res.writeHead(200, { ...json, link: '</v2/client/deckhouse/tags/list?last=b&n=2>; rel="next"' });
        return void res.end(JSON.stringify({ name: "client/deckhouse", tags: ["a", "b"] }));
      }
      if (last === "b") {
        res.writeHead(200, { ...json, link: `<http://${stub?.host}/v2/client/deckhouse/tags/list?last=d&n=2>; rel=next` });
        return void res.end(JSON.stringify({ name: "client/deckhouse", tags: ["c", "d"] }));
      }
      res.writeHead(200, json).end(JSON.stringify({ name: "client/deckhouse", tags: ["e"] }));
    });
    const tags = await client(stub.host).listTags();
    expect(tags && [...tags].sort()).toEqual(["a", "b", "c", "d", "e"]);
    expect(stub.seen.filter((s) => s.url.includes("/tags/list")).map((s) => s.url)).toEqual([
      "/v2/client/deckhouse/tags/list?n=1000",
      "/v2/client/deckhouse/tags/list?last=b&n=2",
      "/v2/client/deckhouse/tags/list?last=d&n=2",
    ]);
  });

  it("takes a repository the registry does not know, and a null tag list, as no tags", async () => {
    stub = await serveStub((req, res) => {
      if (req.url === "/v2/") return void res.writeHead(200).end();
      if (req.url?.startsWith("/v2/client/deckhouse/")) {
        res.writeHead(404, { "content-type": "application/json" });
        return void res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
      }
      res.writeHead(200, { "content-type": "application/json" }).end('{"name":"other","tags":null}');
    });
    expect(await client(stub.host).listTags()).toEqual(new Set());
    const other = new RepositoryClient(new RegistryTransport(stub.host, { insecure: true, retry: fast }), "other", ["pull"]);
    expect(await other.listTags()).toEqual(new Set());
  });

  it.each([
    ["a refused listing", 403, '{"errors":[{"code":"DENIED"}]}'],
    ["an unparsable body", 200, "<html>tags</html>"],
    ["a body of the wrong shape", 200, '{"tags":"latest"}'],
    ["a 404 without NAME_UNKNOWN", 404, "not found"],
  ])("gives no answer (so each image is checked with a HEAD) for %s", async (_what, status, body) => {
    stub = await serveStub((req, res) => {
      if (req.url === "/v2/") return void res.writeHead(200).end();
      res.writeHead(status, { "content-type": "application/json" }).end(body);
    });
    expect(await client(stub.host).listTags()).toBeUndefined();
  });

  it("stops after a bounded number of pages when next links never end", async () => {
    stub = await serveStub((req, res) => {
      if (req.url === "/v2/") return void res.writeHead(200).end();
      const n = Number(new URL(req.url ?? "/", "http://x").searchParams.get("page") ?? 0);
      res.writeHead(200, { "content-type": "application/json", link: `</v2/client/deckhouse/tags/list?page=${n + 1}>; rel="next"` });
      res.end(JSON.stringify({ tags: [`t${n}`] }));
    });
    expect(await client(stub.host).listTags()).toBeUndefined();
    const pages = stub.seen.filter((s) => s.url.includes("/tags/list")).length;
    expect(pages).toBeGreaterThan(1);
    expect(pages).toBeLessThanOrEqual(100);
  });
});
