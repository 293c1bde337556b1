/**
 * How many live terminals the viewer streams at once. Each one is a tmux client in a
 * pseudo-terminal (or a share of a pane poller), so an open-ended number of them (a reload loop,
 * a script holding connections) would cost the host processes and CPU the sessions need.
 */
export interface LiveLimits {
  /** Live streams of one session at once. */
  perSession: number;
  /** Live streams of all sessions at once. */
  total: number;
}

export const DEFAULT_LIVE_LIMITS: LiveLimits = { perSession: 8, total: 32 };

export type LiveSlot =
  { ok: true; release: () => void } | { ok: false; scope: "session" | "total"; limit: number };

export class LiveLimiter {
  private readonly bySession = new Map<string, number>();
  private count = 0;

  constructor(readonly limits: LiveLimits = DEFAULT_LIVE_LIMITS) {}

  /** Takes a slot for a stream of `sessionId`; its release() is safe to call more than once. */
  acquire(sessionId: string): LiveSlot {
    const mine = this.bySession.get(sessionId) ?? 0;
    if (mine >= this.limits.perSession) return { ok: false, scope: "session", limit: this.limits.perSession };
    if (this.count >= this.limits.total) return { ok: false, scope: "total", limit: this.limits.total };
    this.bySession.set(sessionId, mine + 1);
    this.count++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.count--;
        const left = (this.bySession.get(sessionId) ?? 1) - 1;
        if (left > 0) this.bySession.set(sessionId, left);
        else this.bySession.delete(sessionId);
      },
    };
  }

  /** Streams open now: of one session, or of all. */
  active(sessionId?: string): number {
    return sessionId === undefined ? this.count : (this.bySession.get(sessionId) ?? 0);
  }
}
