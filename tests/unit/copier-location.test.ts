import { resolveLocation, withQuery } from "../../copier/registry/location";

describe("upload Location handling", () => {
  const request = new URL("https://reg.example:5000/v2/customer/deckhouse/blobs/uploads/");

  it("resolves a relative Location against the request URL and keeps its query (_state)", () => {
    const loc = resolveLocation("/v2/customer/deckhouse/blobs/uploads/abc-123?_state=xyz%3D%3D", request, "upload");
    expect(loc.href).toBe("https://reg.example:5000/v2/customer/deckhouse/blobs/uploads/abc-123?_state=xyz%3D%3D");
  });

  it("keeps an absolute Location on another host as it is", () => {
    const loc = resolveLocation("https://storage.example/upload/9?sig=1", request, "upload");
    expect(loc.href).toBe("https://storage.example/upload/9?sig=1");
  });

  it("resolves a path-relative Location against the request path", () => {
    expect(resolveLocation("abc", request, "upload").pathname).toBe("/v2/customer/deckhouse/blobs/uploads/abc");
  });

  it("appends digest to an existing query instead of replacing it", () => {
    const loc = resolveLocation("/v2/r/blobs/uploads/u1?_state=s1&x=2", request, "upload");
    const put = withQuery(loc, { digest: "sha256:abc" });
    expect(put.searchParams.get("_state")).toBe("s1");
    expect(put.searchParams.get("x")).toBe("2");
    expect(put.searchParams.get("digest")).toBe("sha256:abc");
    expect(put.search.startsWith("?_state=s1&x=2&digest=")).toBe(true);
    // the original URL is not changed
    expect(loc.searchParams.has("digest")).toBe(false);
  });

  it("adds a query when the Location has none, and refuses a missing Location", () => {
    expect(withQuery(new URL("http://r/v2/x/blobs/uploads/u"), { digest: "sha256:1" }).search).toBe("?digest=sha256%3A1");
    expect(() => resolveLocation(undefined, request, "upload of x")).toThrow(/upload of x: the registry sent no upload Location/);
  });
});
