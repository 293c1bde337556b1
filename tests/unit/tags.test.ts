import { describe, expect, it } from "vitest";
import { SshMcpError } from "../../src/errors.js";
import {
  newSessionTags,
  PANE_TAGS,
  SESSION_META,
  TAG,
  TAG_FORMAT,
  tagCommands,
} from "../../src/session/tags.js";
import { createTmux, TmuxFailure } from "../../src/session/tmux.js";
import { SEP } from "../../src/tmux/command.js";
import { parsePaneRow } from "../../src/tmux/pane-info.js";
import { TmuxError } from "../../src/tmux/client.js";

/** ssh-mcp's window options (tags.ts) and its tmux client (session/tmux.ts), without tmux. */

const BASE = ["%12", "0", "", "5", "7", "120", "40", "1", "4321", "2", "1"];

describe("tags", () => {
  it("are ssh-mcp's window options, each with its format", () => {
    expect(TAG.lock).toBe("@ssh_mcp_lock");
    expect(TAG_FORMAT.sessionId).toBe("#{@ssh_mcp_session_id}");
    expect(Object.keys(TAG_FORMAT)).toEqual(Object.keys(TAG));
    for (const [name, option] of Object.entries(TAG)) {
      expect(option).toMatch(/^@ssh_mcp_[a-z_]+$/);
      expect(TAG_FORMAT[name as keyof typeof TAG]).toBe(`#{${option}}`);
    }
  });

  it("read with every pane's state: session, owner, owner's pid, lock", () => {
    const line = [...BASE, "sess-1", "ssh-mcp-inst", "4242", '{"actor":"human"}', "extra"].join(SEP);
    expect(parsePaneRow(line, PANE_TAGS)).toEqual({
      info: {
        paneId: "%12",
        dead: false,
        deadStatus: null,
        cursorX: 5,
        cursorY: 7,
        width: 120,
        height: 40,
        alternate: true,
        pid: 4321,
        attachedClients: 2,
        piped: true,
        sessionId: "sess-1",
        ownerInstance: "ssh-mcp-inst",
        ownerPid: 4242,
        lock: '{"actor":"human"}',
      },
      extra: ["extra"],
    });
    // A pane that is not ssh-mcp's.
    expect(parsePaneRow([...BASE, "", "", "", ""].join(SEP), PANE_TAGS)?.info).toMatchObject({
      sessionId: "",
      ownerInstance: "",
      ownerPid: 0,
      lock: "",
    });
  });

  it("a session's metadata, as discovery reads it", () => {
    expect(SESSION_META.formats).toEqual([
      "#{@ssh_mcp_profile}",
      "#{@ssh_mcp_transcript}",
      "#{@ssh_mcp_owner_label}",
      "#{@ssh_mcp_created_at}",
    ]);
    expect(SESSION_META.parse(["p", "/t.jsonl", "", "2026"])).toEqual({
      profile: "p",
      transcript: "/t.jsonl",
      ownerLabel: "",
      createdAt: "2026",
    });
  });

  it("a new session's window gets them all, in order; a claim sets the owner", () => {
    expect(
      newSessionTags({
        sessionId: "s-1",
        profile: "p",
        serverInstanceId: "inst",
        serverPid: 42,
        transcript: "/t.jsonl",
        ownerLabel: null,
        createdAt: "now",
      }),
    ).toEqual([
      ["@ssh_mcp_session_id", "s-1"],
      ["@ssh_mcp_profile", "p"],
      ["@ssh_mcp_server_instance_id", "inst"],
      ["@ssh_mcp_server_pid", "42"],
      ["@ssh_mcp_transcript", "/t.jsonl"],
      ["@ssh_mcp_owner_label", ""],
      ["@ssh_mcp_created_at", "now"],
    ]);
    expect(tagCommands("%3", [[TAG.serverPid, "42"]])).toEqual([
      ["set-option", "-w", "-t", "%3", "@ssh_mcp_server_pid", "42"],
    ]);
  });
});

describe("the server's tmux client", () => {
  it("reports a tmux failure as TMUX_ERROR, keeping tmux's own error", async () => {
    const tmux = createTmux("sock", { tmuxPath: "/nonexistent/tmux" });
    const err = await tmux.run(["list-panes"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TmuxFailure);
    expect(err).toBeInstanceOf(SshMcpError);
    expect((err as TmuxFailure).code).toBe("TMUX_ERROR");
    expect((err as TmuxFailure).tmux).toBeInstanceOf(TmuxError);
    expect((err as TmuxFailure).message).toBe(
      `tmux list-panes failed: ${(err as TmuxFailure).tmux.stderr}. Check that tmux is installed (ssh-mcp doctor).`,
    );
    expect((err as TmuxFailure).data).toBeUndefined();
  });
});
