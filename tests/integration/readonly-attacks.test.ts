import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { sshArgs } from "../support/sshd.js";
import { baseProfile, startHarness, type Harness } from "../support/harness.js";
import { ATTACKS, ORDINARY, ORIGINAL, type Attack, type Key, type Step } from "./readonly-attacks.cases.js";

/**
 * Issue 13's acceptance table: real attempts to write through a readonly profile, against a real
 * sshd, each judged on the remote filesystem by a second, plain ssh (the property that matters),
 * and by the tool result (the policy refused it); plus ordinary read-only work that must run.
 */

const execFileAsync = promisify(execFile);

/** How long a write that could land after the tool returned is waited for. */
const LATE_MS = 1500;

let h: Harness;
/** The case directory on the remote, fresh for this run. */
const DIR = `/tmp/ro-attack-${randomBytes(6).toString("hex")}`;
const REPO = `${DIR}/repo`;
/** What the case directory held before any attack ran. */
let baseline: Set<string>;

/**
 * One plain ssh connection that the checks reuse (OpenSSH connection sharing), so a check costs
 * a channel, not a login; started and stopped here.
 */
let master: ChildProcess | undefined;
const controlPath = (): string[] => ["-o", `ControlPath=${h.dir}/ssh-check`];

async function startMaster(): Promise<void> {
  master = spawn("ssh", ["-M", "-N", ...controlPath(), ...sshArgs(h.sshd)], { stdio: "ignore" });
  await pollUntil(
    async () => {
      await execFileAsync("ssh", ["-O", "check", ...controlPath(), ...sshArgs(h.sshd)]);
      return true;
    },
    { timeoutMs: 15_000, message: "the checking ssh connection did not come up" },
  );
}

/** Runs a script through a plain ssh (the account's bash), outside ssh-mcp. */
async function remote(script: string): Promise<{ code: number; stdout: string }> {
  try {
    const args = [...controlPath(), "-o", "ControlMaster=no", ...sshArgs(h.sshd), script];
    const { stdout } = await execFileAsync("ssh", args, { maxBuffer: 16 << 20 });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    // ssh itself fails with 255; anything else is the script's own exit status.
    if (typeof e.code !== "number" || e.code === 255)
      throw new Error(`plain ssh failed: ${String(e.stderr)}`);
    return { code: e.code, stdout: e.stdout ?? "" };
  }
}

const targetOf = (a: Attack): string => a.target ?? a.id;

function fill(s: string, a?: Attack): string {
  const out = s.replaceAll("@R", REPO).replaceAll("@D", DIR);
  return a ? out.replaceAll("@F", `${DIR}/${targetOf(a)}`).replaceAll("@ID", a.id) : out;
}

const ABSENT = "(absent)";
const expectedState = (a: Attack): string => (a.existing ? ORIGINAL : ABSENT);

/** Each target's state on the remote: ABSENT, or its content (a directory reads as empty). */
async function remoteStates(attacks: Attack[]): Promise<Map<string, string>> {
  const names = attacks.map(targetOf);
  const script = `cd ${DIR} && for n in ${names.join(" ")}; do if test -e "$n"; then printf '%s\\0' "$n" "$(cat "$n" 2>/dev/null; echo .)"; else printf '%s\\0' "$n" '${ABSENT}.'; fi; done`;
  const parts = (await remote(script)).stdout.split("\0");
  const states = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2)
    states.set(parts[i] as string, (parts[i + 1] as string).slice(0, -1));
  return states;
}

async function remoteState(a: Attack): Promise<string> {
  const s = (await remoteStates([a])).get(targetOf(a));
  if (s === undefined) throw new Error(`no state for ${targetOf(a)}`);
  return s;
}

let attackSid: string | undefined;

async function open(profile: string): Promise<string> {
  const r = await h.call("open_session", { profile });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return (r.session as { session_id: string }).session_id;
}

/** Each attack starts in a shell no earlier attack changed: one that got anything sent gets a fresh one. */
async function attackSession(): Promise<string> {
  attackSid ??= await open("ro");
  return attackSid;
}

async function freshAttackSession(): Promise<void> {
  if (attackSid) await h.call("close_session", { session_id: attackSid });
  attackSid = undefined;
}

function keyNames(keys: Key[], a: Attack): string[] {
  return keys.flatMap((k) =>
    typeof k === "string" ? [k] : [...fill(k.chars, a)].map((c) => (c === " " ? "Space" : c)),
  );
}

type Result = Record<string, unknown> & { ok: boolean };

async function runStep(step: Step, a: Attack, sid: string): Promise<Result[]> {
  switch (step.tool) {
    case "execute_command":
      return [
        await h.call("execute_command", { session_id: sid, command: fill(step.command, a), timeout: 20 }),
      ];
    case "send_text":
      return [
        await h.call("send_text", {
          session_id: sid,
          text: fill(step.text, a),
          sensitive: step.sensitive ?? false,
          timeout: 2,
        }),
      ];
    case "send_keys": {
      const names = keyNames(step.keys, a);
      const calls = step.oneCallPerKey ? names.map((k) => [k]) : [names];
      const out: Result[] = [];
      for (const k of calls) out.push(await h.call("send_keys", { session_id: sid, keys: k }));
      return out;
    }
  }
}

const refused = (r: Result): boolean => r.ok === false && r.code === "POLICY_BLOCKED";
const brief = (r: Result): string =>
  JSON.stringify({ ok: r.ok, code: r.code, status: r.status, exit_code: r.exit_code, state: r.state });

/** Attacks whose own test saw the write, so the final sweep reports only the others. */
const seenWriting = new Set<string>();

beforeAll(async () => {
  h = await startHarness({
    profiles: (sshd) => ({ ro: baseProfile(sshd, { security: { mode: "readonly" } }) }),
  });
  await startMaster();
  const existing = ATTACKS.filter((a) => a.existing).map(targetOf);
  // Made by the plain ssh: a file named -exec for the glob cases, a magic source for file -C,
  // programs that shadow ls and cat for the PATH cases, a repository whose log fills more than
  // a screen (so git opens its pager), and the files the `existing` cases try to change.
  const setup = [
    "set -e",
    `mkdir -p ${DIR}/g ${DIR}/src ${DIR}/bin`,
    `: > ${DIR}/g/-exec`,
    `printf '0 string hello Hello\\n' > ${DIR}/src/file-compile`,
    `printf '#!/bin/sh\\n/usr/bin/touch ${DIR}/path-prefix\\n' > ${DIR}/bin/ls`,
    `printf '#!/bin/sh\\n/usr/bin/touch ${DIR}/path-assign\\n' > ${DIR}/bin/cat`,
    `chmod +x ${DIR}/bin/ls ${DIR}/bin/cat`,
    ...existing.map((n) => `printf '${ORIGINAL.replace("\n", "\\n")}' > ${DIR}/${n}`),
    `git init -q ${REPO} && cd ${REPO}`,
    "printf 'hello root\\n' > a.txt && git add a.txt",
    "git -c user.name=t -c user.email=t@example.com commit -qm first",
    'echo more >> a.txt && i=0 && while [ $i -lt 300 ]; do i=$((i+1)); echo "line $i"; done > ../msg',
    "git -c user.name=t -c user.email=t@example.com commit -qa -F ../msg",
  ].join("\n");
  expect(await remote(setup)).toMatchObject({ code: 0 });
  baseline = new Set((await remote(`ls -A ${DIR}`)).stdout.split("\n").filter(Boolean));
}, 120_000);

afterAll(async () => {
  if (master) await remote(`rm -rf ${DIR}`).catch(() => undefined);
  master?.kill();
  await h?.close();
});

describe("readonly: attempts to write", () => {
  it("the table is what the issue asks for", () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(100);
    expect(new Set(ATTACKS.map((a) => a.id)).size).toBe(ATTACKS.length);
    for (const a of ATTACKS) expect(targetOf(a), a.id).toMatch(/^[A-Za-z0-9.-]+$/);
  });

  it.each(ATTACKS.map((a) => [a.id, a] as const))("%s", async (id, a) => {
    const sid = await attackSession();
    const results: Result[] = [];
    let state: string;
    let lateWrite: string | undefined;
    try {
      for (const step of a.steps) results.push(...(await runStep(step, a, sid)));
      // A command still running (outlived its timeout, or waits for input) may write later too.
      if (
        a.late ||
        a.steps.some((s) => s.tool !== "execute_command") ||
        results.some((r) => r.status === "running")
      ) {
        // Not written yet is not enough here: watch for a while for a write that comes late.
        lateWrite = await pollUntil(
          async () => {
            const s = await remoteState(a);
            return s !== expectedState(a) ? s : undefined;
          },
          { timeoutMs: LATE_MS, intervalMs: 100 },
        ).catch(() => undefined);
      }
      state = await remoteState(a);
    } finally {
      if (!results.every(refused)) await freshAttackSession();
    }
    const how = `${id} (${a.note}); results: ${results.map(brief).join(" ")}`;
    if (lateWrite !== undefined || state !== expectedState(a)) seenWriting.add(id);
    expect(lateWrite ?? state, `WROTE: ${how}`).toBe(expectedState(a));
    expect(results.some(refused), `NOT REFUSED: ${how}`).toBe(true);
  });

  it("no attack wrote later, nor anywhere else in the case directory", async () => {
    const states = await remoteStates(ATTACKS);
    const late = ATTACKS.filter(
      (a) => !seenWriting.has(a.id) && states.get(targetOf(a)) !== expectedState(a),
    );
    expect(late.map((a) => a.id)).toEqual([]);
    const targets = new Set(ATTACKS.map(targetOf));
    const listed = (await remote(`ls -A ${DIR}`)).stdout.split("\n").filter(Boolean);
    expect(listed.filter((n) => !baseline.has(n) && !targets.has(n))).toEqual([]);
  });
});

describe("readonly: ordinary read-only work keeps working", () => {
  let sid: string;
  beforeAll(async () => {
    sid = await open("ro");
  });

  it("the table is what the issue asks for", () => {
    expect(ORDINARY.length).toBeGreaterThanOrEqual(20);
  });

  it.each(ORDINARY.map((o) => [o.command, o] as const))("%s", async (_c, o) => {
    if (o.needs && (await remote(`command -v ${o.needs}`)).code !== 0) {
      // Only a missing program excuses the case, and it must really be missing.
      expect((await remote(`ls /usr/bin/${o.needs} /bin/${o.needs} /usr/sbin/${o.needs}`)).code).not.toBe(0);
      return;
    }
    const command = fill(o.command);
    const plain = await remote(command);
    const r = await h.call("execute_command", { session_id: sid, command, timeout: 20 });
    expect(r, `${command}: ${String(r.error)}`).toMatchObject({
      ok: true,
      status: "completed",
      exit_code: plain.code,
    });
    if (o.sameOutput) expect(String(r.output).replace(/\r\n/g, "\n"), command).toBe(plain.stdout);
  });
});
