/**
 * The raw output of one session as received by the tap, addressed by absolute character
 * offsets since the server started following it. Kept as a list of chunks rather than one
 * growing string: V8 builds `a += b` as a rope and flattens all of it on every slice, which
 * made scanning a 16 MB output quadratic. Only the part still needed (by a running command or
 * a waiting call) is kept in memory; the transcript keeps everything.
 */
export class OutputStream {
  private chunks: string[] = [];
  /** Absolute offset of each chunk's first character. */
  private starts: number[] = [];
  private base = 0;
  private total = 0;
  lastRecvAt = 0;
  private readonly pins = new Map<number, number>();
  private nextPin = 1;

  /** Characters held in memory. */
  get kept(): number {
    return this.total - this.base;
  }

  get end(): number {
    return this.total;
  }

  append(chunk: string, now = Date.now()): void {
    if (!chunk) return;
    this.chunks.push(chunk);
    this.starts.push(this.total);
    this.total += chunk.length;
    this.lastRecvAt = now;
  }

  /** Index of the chunk holding absolute offset `pos` (pos < end). */
  private chunkAt(pos: number): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Text from absolute offset `from` (clamped to what is kept) to `to` (default: the end). */
  slice(from: number, to = this.total): string {
    const start = Math.max(from, this.base);
    const stop = Math.min(to, this.total);
    if (stop <= start || !this.chunks.length) return "";
    const parts: string[] = [];
    for (let i = this.chunkAt(start); i < this.chunks.length; i++) {
      const cs = this.starts[i] as number;
      if (cs >= stop) break;
      const chunk = this.chunks[i] as string;
      parts.push(chunk.slice(Math.max(0, start - cs), Math.min(chunk.length, stop - cs)));
    }
    return parts.join("");
  }

  /** Keeps text from `offset` on in memory until the returned release function is called. */
  pin(offset: number): () => void {
    const id = this.nextPin++;
    this.pins.set(id, offset);
    return () => {
      this.pins.delete(id);
    };
  }

  /** Drops whole chunks nobody needs, keeping at least `keep` characters for screens and prompts. */
  trim(keep = 256 * 1024): void {
    let cut = this.total - keep;
    for (const p of this.pins.values()) cut = Math.min(cut, p);
    if (cut <= this.base || !this.chunks.length) return;
    const i = this.chunkAt(cut);
    if (i === 0) return;
    this.chunks = this.chunks.slice(i);
    this.starts = this.starts.slice(i);
    this.base = this.starts[0] as number;
  }
}
