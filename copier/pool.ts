// One bounded pool of concurrent network operations shared by every image and blob of a run. Only leaf
// operations take a slot (never a task that waits for others), so the pool cannot deadlock. A freed slot goes to
// the waiting task with the lowest priority number (first come first among equals): the executor uses that to
// commit manifests before anything else and to move the blobs of earlier images first, so images finish in order.

export class Pool {
  private active = 0;
  private seq = 0;
  /** A binary min-heap by (priority, arrival). */
  private readonly waiting: Array<{ priority: number; seq: number; start: () => void }> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`concurrency must be a positive integer, got ${size}`);
  }

  async run<T>(task: () => Promise<T>, priority = 0): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((start) => this.push({ priority, seq: this.seq++, start }));
    else this.active++;
    try {
      return await task();
    } finally {
      // The slot is handed on once the promise callbacks of this task have run, so that work it unblocks (an
      // image's commit after its last blob) is waiting already and can take it by priority.
      setImmediate(() => {
        const next = this.pop();
        if (next) next.start();
        else this.active--;
      });
    }
  }

  private before(a: number, b: number): boolean {
    const x = this.waiting[a];
    const y = this.waiting[b];
    return x.priority < y.priority || (x.priority === y.priority && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    [this.waiting[a], this.waiting[b]] = [this.waiting[b], this.waiting[a]];
  }

  private push(entry: { priority: number; seq: number; start: () => void }): void {
    const heap = this.waiting;
    heap.push(entry);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop(): { start: () => void } | undefined {
    const heap = this.waiting;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && this.before(l, best)) best = l;
        if (r < heap.length && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}
