// The run's pool: bounded, and a freed slot goes to the waiting task with the lowest priority, including work that
// the finishing task itself unblocks (an image's commit after its last blob).
import { Pool } from "../../copier/pool";

describe("Pool", () => {
  it("never runs more than its size at once", async () => {
    const pool = new Pool(3);
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pool.run(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setImmediate(r));
          running--;
          return i;
        }, i % 4),
      ),
    );
    expect(most).toBe(3);
  });

  it("starts waiting tasks by priority, first come first among equals", async () => {
    const pool = new Pool(1);
    const started: string[] = [];
    let release!: () => void;
    const first = pool.run(() => new Promise<void>((r) => (release = r)));
    const queued = [
      ["transfer b", 20],
      ["lookup a", 10],
      ["transfer a", 20],
      ["commit", 0],
      ["lookup b", 10],
    ] as const;
    const all = queued.map(([name, priority]) => pool.run(async () => void started.push(name), priority));
    release();
    await Promise.all([first, ...all]);
    expect(started).toEqual(["commit", "lookup a", "lookup b", "transfer b", "transfer a"]);
  });

  it("gives a freed slot to the commit the finishing task unblocked, ahead of waiting transfers", async () => {
    const pool = new Pool(1);
    const started: string[] = [];
    const blob = pool.run(async () => void started.push("last blob of image 0"), 20);
    const image0 = blob.then(() => pool.run(async () => void started.push("commit image 0"), 0));
    const image1 = pool.run(async () => void started.push("blob of image 1"), 21);
    await Promise.all([image0, image1]);
    expect(started).toEqual(["last blob of image 0", "commit image 0", "blob of image 1"]);
  });
});
