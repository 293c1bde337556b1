import { SshMcpError } from "../errors.js";
import type { SessionManager } from "./manager.js";
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
function refuseForceInReadonly(
  mgr: SessionManager,
  sessionId: string,
  actor: string,
  lock: InputLock,
  what: string,
): void {
  const s = mgr.get(sessionId);
  if (s.profile.security.mode !== "readonly") return;
  const rule = `readonly: ${what} the input lock of ${lock.actor} with force`;
  s.writer.write("security_block", { tool: `${what}_input_lock`, actor, rule, mode: "readonly" });
  throw new SshMcpError(
    "POLICY_BLOCKED",
    `Refused by profile '${s.profile.name}' security policy (${rule}). Wait until ${lock.actor} releases it or it expires (${lock.expires_at}).`,
    { rule },
  );
}

async function currentLock(
  mgr: SessionManager,
  sessionId: string,
  force = false,
): Promise<{ paneId: string; lock?: InputLock }> {
  const s = await mgr.resolve(sessionId, force);
  const info = await mgr.deps.tmux.paneInfo(s.paneId);
  s.lock = activeLock(info?.lock) ?? null;
  return { paneId: s.paneId, lock: s.lock ?? undefined };
}

export async function acquireLock(
  mgr: SessionManager,
  sessionId: string,
  actor: string,
  ttlSeconds: number,
  force: boolean,
): Promise<InputLock> {
  await mgr.ready;
  const { paneId, lock } = await currentLock(mgr, sessionId, force);
  if (lock && lock.actor !== actor && force) refuseForceInReadonly(mgr, sessionId, actor, lock, "acquire");
  if (lock && lock.actor !== actor && !force) {
    throw new SshMcpError(
      "INPUT_LOCKED",
      `Session '${sessionId}' is already locked by ${lock.actor} until ${lock.expires_at}. Wait, or pass force: true to take the lock (recorded).`,
    );
  }
  const now = new Date();
  const next: InputLock = {
    actor,
    acquired_at: now.toISOString(),
    expires_at: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
  };
  await setTag(mgr.deps.tmux.pane(paneId), TAG.lock, JSON.stringify(next));
  const s = mgr.get(sessionId);
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

export async function releaseLock(
  mgr: SessionManager,
  sessionId: string,
  actor: string,
  force: boolean,
): Promise<{ released: boolean }> {
  await mgr.ready;
  const { paneId, lock } = await currentLock(mgr, sessionId, force);
  if (!lock) return { released: false };
  if (lock.actor !== actor && force) refuseForceInReadonly(mgr, sessionId, actor, lock, "release");
  if (lock.actor !== actor && !force) {
    throw new SshMcpError(
      "INPUT_LOCKED",
      `The lock on '${sessionId}' belongs to ${lock.actor}, not ${actor}. Pass force: true to break it (recorded).`,
    );
  }
  await unsetTag(mgr.deps.tmux.pane(paneId), TAG.lock);
  const s = mgr.get(sessionId);
  s.lock = null;
  s.writer.write("lock", {
    action: "release",
    actor,
    ...(lock.actor !== actor ? { forced: true, previous_actor: lock.actor } : {}),
  });
  return { released: true };
}

export async function lockStatus(mgr: SessionManager, sessionId: string): Promise<InputLock | null> {
  await mgr.ready;
  return (await currentLock(mgr, sessionId)).lock ?? null;
}
