/**
 * The raw output of one session as received by the tap, addressed by absolute character
 * offsets since the server started following it. Only the part still needed (by a running
 * command or a waiting call) is kept in memory; the transcript keeps everything.
 */
export class OutputStream {
  private text = "";
  private base = 0;
  lastRecvAt = 0;
  private readonly pins = new Map<number, number>();
  private nextPin = 1;

  get end(): number {
    return this.base + this.text.length;
  }

  append(chunk: string, now = Date.now()): void {
    this.text += chunk;
    this.lastRecvAt = now;
  }

  /** Text from absolute offset `from` (clamped to what is kept) to `to` (default: the end). */
  slice(from: number, to = this.end): string {
    return this.text.slice(Math.max(0, from - this.base), Math.max(0, to - this.base));
  }

  indexOf(needle: string, from: number): number {
    const i = this.text.indexOf(needle, Math.max(0, from - this.base));
    return i === -1 ? -1 : i + this.base;
  }

  /** Keeps text from `offset` on in memory until the returned release function is called. */
  pin(offset: number): () => void {
    const id = this.nextPin++;
    this.pins.set(id, offset);
    return () => {
      this.pins.delete(id);
    };
  }

  /** Drops text nobody needs, keeping at least `keep` characters for screens and prompts. */
  trim(keep = 256 * 1024): void {
    let cut = this.end - keep;
    for (const p of this.pins.values()) cut = Math.min(cut, p);
    if (cut > this.base) {
      this.text = this.text.slice(cut - this.base);
      this.base = cut;
    }
  }
}
