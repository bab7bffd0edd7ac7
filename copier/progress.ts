// Run-wide counters (images done, bytes moved) and the snapshot handed to progress reporters.

export interface ProgressSnapshot {
  imagesTotal: number;
  imagesDone: number;
  copied: number;
  skipped: number;
  failed: number;
  bytes: number;
  elapsedMs: number;
  /** Bytes per second since the start. */
  throughput: number;
  /** Estimated milliseconds left, from the share of images done; undefined until something is done. */
  etaMs?: number;
}

export class ProgressTracker {
  private readonly started = Date.now();
  imagesTotal = 0;
  copied = 0;
  skipped = 0;
  failed = 0;
  bytes = 0;

  constructor(private readonly onChange?: (snapshot: ProgressSnapshot) => void) {}

  addBytes(n: number): void {
    this.bytes += n;
  }

  /** `missing` (dry run) and `absent` (an optional image the source lacks) count as skipped. */
  imageFinished(status: "copied" | "skipped" | "failed" | "missing" | "absent"): void {
    if (status === "copied") this.copied++;
    else if (status === "failed") this.failed++;
    else this.skipped++;
    this.onChange?.(this.snapshot());
  }

  snapshot(): ProgressSnapshot {
    const elapsedMs = Date.now() - this.started;
    const imagesDone = this.copied + this.skipped + this.failed;
    const throughput = elapsedMs > 0 ? (this.bytes * 1000) / elapsedMs : 0;
    const etaMs = imagesDone > 0 && imagesDone < this.imagesTotal ? (elapsedMs / imagesDone) * (this.imagesTotal - imagesDone) : imagesDone >= this.imagesTotal && this.imagesTotal > 0 ? 0 : undefined;
    return { imagesTotal: this.imagesTotal, imagesDone, copied: this.copied, skipped: this.skipped, failed: this.failed, bytes: this.bytes, elapsedMs, throughput, etaMs };
  }
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** `images 12/340 (copied 10, skipped 2, failed 0), 1.20 GiB, 45.3 MiB/s, ETA 3m12s` */
export function formatProgress(s: ProgressSnapshot): string {
  const rate = `${(s.throughput / (1024 * 1024)).toFixed(1)} MiB/s`;
  const eta = s.etaMs === undefined ? "ETA ?" : `ETA ${formatDuration(s.etaMs)}`;
  return `images ${s.imagesDone}/${s.imagesTotal} (copied ${s.copied}, skipped ${s.skipped}, failed ${s.failed}), ${formatBytes(s.bytes)}, ${rate}, ${eta}`;
}
