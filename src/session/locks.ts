import { SshMcpError } from "../errors.js";
import type { SessionHost } from "./host.js";
import type { Session } from "./session.js";
import { setTag, TAG, unsetTag } from "./tags.js";
import type { InputLock } from "./types.js";

/**
 * Input locks: an actor (the agent, a human at the viewer or tmux) can hold a session's input
 * for a while; sends by anyone else are refused until it expires or is released. The lock lives
 * in a window option, so every ssh-mcp server on the socket sees the same one, and every change
 * is a transcript event.
 */

export function activeLock(raw: string | undefined, now = Date.now()): InputLock | undefined {
  if (!raw) return undefined;
  try {
    const lock = JSON.parse(raw) as InputLock;
    if (typeof lock.actor !== "string" || typeof lock.expires_at !== "string") return undefined;
    return Date.parse(lock.expires_at) > now ? lock : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Taking or breaking another actor's lock with force is recorded; under a readonly profile it is
 * refused outright: the agent must not push a human off the terminal they are driving.
 */
function refuseForceInReadonly(s: Session, actor: string, lock: InputLock, what: string): void {
  if (s.profile.security.mode !== "readonly") return;
  const rule = `readonly: ${what} the input lock of ${lock.actor} with force`;
  s.writer.write("security_block", { tool: `${what}_input_lock`, actor, rule, mode: "readonly" });
  throw new SshMcpError(
    "POLICY_BLOCKED",
    `Refused by profile '${s.profile.name}' security policy (${rule}). Wait until ${lock.actor} releases it or it expires (${lock.expires_at}).`,
    { rule },
  );
}

/** The lock on the session's window now (remembered on the session for list_sessions). */
async function currentLock(host: SessionHost, s: Session): Promise<InputLock | undefined> {
  const info = await host.tmux.paneInfo(s.paneId);
  s.lock = activeLock(info?.lock) ?? null;
  return s.lock ?? undefined;
}

/** acquire_input_lock, on a session granted "claim" (ours, or taken over with force). */
export async function acquireLock(
  host: SessionHost,
  s: Session,
  actor: string,
  ttlSeconds: number,
  force: boolean,
): Promise<InputLock> {
  const lock = await currentLock(host, s);
  if (lock && lock.actor !== actor && force) refuseForceInReadonly(s, actor, lock, "acquire");
  if (lock && lock.actor !== actor && !force) {
    throw new SshMcpError(
      "INPUT_LOCKED",
      `Session '${s.id}' is already locked by ${lock.actor} until ${lock.expires_at}. Wait, or pass force: true to take the lock (recorded).`,
    );
  }
  const now = new Date();
  const next: InputLock = {
    actor,
    acquired_at: now.toISOString(),
    expires_at: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
  };
  await setTag(host.tmux.pane(s.paneId), TAG.lock, JSON.stringify(next));
  s.lock = next;
  s.fastInput = false;
  s.writer.write("lock", {
    action: "acquire",
    actor,
    ttl_seconds: ttlSeconds,
    expires_at: next.expires_at,
    ...(lock && lock.actor !== actor ? { forced: true, previous_actor: lock.actor } : {}),
  });
  return next;
}

/** release_input_lock, on a session granted "claim" (ours, or taken over with force). */
export async function releaseLock(
  host: SessionHost,
  s: Session,
  actor: string,
  force: boolean,
): Promise<{ released: boolean }> {
  const lock = await currentLock(host, s);
  if (!lock) return { released: false };
  if (lock.actor !== actor && force) refuseForceInReadonly(s, actor, lock, "release");
  if (lock.actor !== actor && !force) {
    throw new SshMcpError(
      "INPUT_LOCKED",
      `The lock on '${s.id}' belongs to ${lock.actor}, not ${actor}. Pass force: true to break it (recorded).`,
    );
  }
  await unsetTag(host.tmux.pane(s.paneId), TAG.lock);
  s.lock = null;
  s.writer.write("lock", {
    action: "release",
    actor,
    ...(lock.actor !== actor ? { forced: true, previous_actor: lock.actor } : {}),
  });
  return { released: true };
}

/** input_lock_status, on a session granted "read". */
export async function lockStatus(host: SessionHost, s: Session): Promise<InputLock | null> {
  return (await currentLock(host, s)) ?? null;
}

/** The viewer's lock button: the human takes or releases the input lock (never with force). */
export async function humanLock(
  host: SessionHost,
  sessionId: string,
  action: "acquire" | "release",
  ttlSeconds: number,
): Promise<{ lock: InputLock } | { released: boolean }> {
  const s = await host.access(sessionId, "claim");
  if (action === "acquire") return { lock: await acquireLock(host, s, "human", ttlSeconds, false) };
  return releaseLock(host, s, "human", false);
}
