import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { plainText, toRaw } from "./plain-text.js";

/**
 * Masking of declared secret values in recorded output (docs/security.md, "Secrets by name and
 * approvals"). The tap never holds a value: the server writes a masks file (session/secrets.ts
 * writeMasks, 0600) with a random key and, per secret, its name, length, HMAC-SHA256 of the value
 * under the key, and a keyed rolling hash of it. The tap slides a window of each length over a
 * line's plain text; a window whose rolling hash matches (cheap, rarely by chance) is confirmed by
 * its HMAC and becomes `[SECRET:name]`. The rolling hash makes a megabyte of output cost
 * milliseconds instead of an HMAC per character.
 */

/** One secret as the masks file describes it. */
export interface MaskEntry {
  name: string;
  len: number;
  /** HMAC-SHA256(key, value), hex. */
  hmac: string;
  /** rollingHash(value, hashBase(key)). */
  rk: number;
}

export interface MasksFile {
  /** 32 random bytes, hex. */
  key: string;
  masks: MaskEntry[];
}

/** A prime under 2^24: a product of two residues stays exact in a double. */
const P = 16_777_213;

/** The rolling hash's base, from the key (so it is as random as the key). */
export function hashBase(key: Buffer): number {
  return 256 + (key.readUInt32BE(0) % (P - 256));
}

/** The polynomial hash of a text's UTF-16 units, base `base`, modulo P. */
export function rollingHash(text: string, base: number): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * base + text.charCodeAt(i)) % P;
  return h;
}

/** Masks one line's windows that are a declared secret's value, by the masks file at `path`. */
export class SecretMasker {
  private stamp = "";
  private key = Buffer.alloc(0);
  private base = 0;
  private masks: MaskEntry[] = [];

  constructor(readonly path: string) {}

  /**
   * Reads the file again when it changed (the server rewrites it on adoption with its own values).
   * An unreadable file keeps the last good one.
   */
  refresh(): void {
    try {
      const st = statSync(this.path);
      const stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
      if (stamp === this.stamp) return;
      const file = JSON.parse(readFileSync(this.path, "utf8")) as MasksFile;
      this.key = Buffer.from(file.key, "hex");
      this.base = hashBase(this.key);
      this.masks = file.masks.filter((m) => m.len > 0);
      this.stamp = stamp;
    } catch {
      // Missing or half-written: the last good masks stay.
    }
  }

  /** The text (any number of lines) with every declared value masked. */
  text(text: string): string {
    this.refresh();
    if (!this.masks.length) return text;
    return text
      .split("\n")
      .map((l) => this.line(l))
      .join("\n");
  }

  private line(raw: string): string {
    const t = plainText(raw);
    const spans = this.find(t.plain);
    if (!spans.length) return raw;
    let out = "";
    let at = raw.length;
    // From the end, so earlier raw indices stay valid.
    for (const s of spans.sort((a, b) => b.start - a.start)) {
      const a = toRaw(t, s.start);
      const b = toRaw(t, s.end - 1) + 1;
      if (b > at) continue;
      out = `[SECRET:${s.name}]` + raw.slice(b, at) + out;
      at = a;
    }
    return raw.slice(0, at) + out;
  }

  /** Plain-text spans [start, end) that are a secret's value, not overlapping. */
  private find(plain: string): Array<{ start: number; end: number; name: string }> {
    const found: Array<{ start: number; end: number; name: string }> = [];
    const taken = (a: number, b: number) => found.some((f) => a < f.end && f.start < b);
    for (const len of new Set(this.masks.map((m) => m.len))) {
      if (plain.length < len) continue;
      const ofLen = this.masks.filter((m) => m.len === len);
      let top = 1;
      for (let i = 1; i < len; i++) top = (top * this.base) % P;
      let h = rollingHash(plain.slice(0, len), this.base);
      for (let i = 0; ; i++) {
        for (const m of ofLen) {
          if (m.rk === h && !taken(i, i + len) && this.confirms(m, plain.slice(i, i + len))) {
            found.push({ start: i, end: i + len, name: m.name });
          }
        }
        if (i + len >= plain.length) break;
        h = (((h - ((plain.charCodeAt(i) * top) % P) + P) % P) * this.base + plain.charCodeAt(i + len)) % P;
      }
    }
    return found;
  }

  private confirms(m: MaskEntry, window: string): boolean {
    const got = createHmac("sha256", this.key).update(window).digest();
    const want = Buffer.from(m.hmac, "hex");
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
