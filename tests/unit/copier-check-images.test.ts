// checkImagesExist against a real registry (TLS + basic auth), as the switch stage uses it.
import { checkImagesExist } from "../../copier";
import { startRegistry, type TestRegistry } from "../helpers/registry";
import { pushImage } from "../helpers/images";

describe("checkImagesExist", () => {
  let reg: TestRegistry;
  let digest: string;

  beforeAll(async () => {
    reg = await startRegistry({ tls: true, auth: "basic", username: "user", password: 'pa"ss:word' });
    digest = (await pushImage(reg, "mirror/deckhouse", { format: "oci", layers: [{ size: 1024, seed: "check" }], seed: "check" }, "v1")).digest;
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("reports present tags and digests with their digest, absent ones as missing", async () => {
    const access = { username: "user", password: 'pa"ss:word', ca: reg.caPem };
    const refs = [`${reg.host}/mirror/deckhouse:v1`, `${reg.host}/mirror/deckhouse@${digest}`, `${reg.host}/mirror/deckhouse:nope`, `${reg.host}/other/repo:v1`];
    const out = await checkImagesExist(refs, access);
    expect(out).toEqual([
      { reference: refs[0], exists: true, digest },
      { reference: refs[1], exists: true, digest },
      { reference: refs[2], exists: false },
      { reference: refs[3], exists: false },
    ]);
  });

  it("reports wrong credentials as an error without the password", async () => {
    const [out] = await checkImagesExist([`${reg.host}/mirror/deckhouse:v1`], { username: "user", password: "wrong-password", ca: reg.caPem });
    expect(out.exists).toBe(false);
    expect(out.error).toMatch(/401/);
    expect(out.error).not.toContain("wrong-password");
  });

  it("reports an untrusted certificate (no CA given) as an error", async () => {
    const [out] = await checkImagesExist([`${reg.host}/mirror/deckhouse:v1`], { username: "user", password: 'pa"ss:word' });
    expect(out.exists).toBe(false);
    expect(out.error).toMatch(/certificate|self.signed|verify/i);
  });
});
