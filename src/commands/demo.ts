import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runtimeDirFrom } from "../config/paths.js";
import { errorMessage } from "../errors.js";
import { connectStdio } from "../mcp/client.js";

/**
 * `ssh-mcp demo`: the whole bastion -> master -> pod path on the built-in lab, through the real
 * MCP tools of a real server process, printed step by step. The session is left open for the
 * user to attach to (sessions outlive the server).
 */
const CLI = fileURLToPath(new URL("../cli.js", import.meta.url));

function out(line = ""): void {
  process.stdout.write(line + "\n");
}

export async function runDemo(env: NodeJS.ProcessEnv): Promise<number> {
  const childEnv = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const client = await connectStdio(process.execPath, [CLI, "serve"], childEnv);
  // Every step must find what it is there to show: a step that finds nothing fails the demo
  // (non-zero exit, and what to do), it never passes silently.
  const step = async (
    title: string,
    tool: string,
    args: Record<string, unknown>,
    show: (r: Record<string, unknown>) => string,
    expect?: { found: (r: Record<string, unknown>) => boolean; otherwise: string },
  ) => {
    out(`\n== ${title}\n   ${tool} ${JSON.stringify(args)}`);
    const r = await client.call(tool, args);
    if (!r.ok) throw new Error(`${tool} failed: ${String(r.error)}`);
    const text = show(r).trimEnd();
    if (text) out(text.replace(/^/gm, "   | "));
    if (expect && !expect.found(r)) throw new Error(`step "${title}" found nothing. ${expect.otherwise}`);
    return r;
  };
  const labLog = join(runtimeDirFrom(undefined, env, process.cwd()), "lab", "lab.log");
  const doctor = `Run ssh-mcp doctor, and see ${labLog}.`;
  try {
    const opened = await step(
      "Open a session on the built-in CMSM bastion lab",
      "open_session",
      { profile: "lab", owner_label: "demo" },
      () => "",
    );
    const session = opened.session as { session_id: string; attach_command: string };
    const sid = session.session_id;
    await step(
      "Screen after login: the bastion menu",
      "get_screen",
      { session_id: sid, lines: 8 },
      (r) => String(r.screen),
      {
        found: (r) => /Target IP:/.test(String(r.screen)),
        otherwise: `The bastion menu did not show. ${doctor}`,
      },
    );
    await step(
      "Choose the target",
      "send_text",
      { session_id: sid, text: "10.0.0.11", wait_for: "User number:" },
      (r) => String(r.output),
    );
    await step(
      "Choose the read-only user",
      "send_text",
      { session_id: sid, text: "1", wait_for: "\\]# ?$", regex: true },
      (r) => String(r.output),
    );
    await step(
      "Run commands on the master host",
      "execute_command",
      { session_id: sid, command: "kubectl get pods -n payment" },
      (r) => `${String(r.output)}(exit code ${String(r.exit_code)})`,
      { found: (r) => r.exit_code === 0 && /payment-api/.test(String(r.output)), otherwise: doctor },
    );
    await step(
      "Enter the pod (an interactive nested shell)",
      "execute_command",
      {
        session_id: sid,
        command: "kubectl exec -it payment-api-7d9f8b6c4-x2k9p -n payment -- /bin/sh",
        timeout: 15,
      },
      (r) => `${String(r.output)}(completion: ${String(r.completion)}, now in: ${String(r.shell)})`,
      { found: (r) => r.status === "completed", otherwise: `The pod shell did not answer. ${doctor}` },
    );
    await step(
      "Search the pod's logs",
      "search_logs",
      // Relative to the pod's root: / in a chroot, the pod's directory where no chroot is possible.
      { session_id: sid, pattern: "timeout|FAILED", path: "var/log/app" },
      (r) =>
        (r.matches as { file: string; line: number; text: string }[])
          .map((m) => `${m.file}:${m.line}: ${m.text}`)
          .join("\n"),
      {
        found: (r) => (r.matches as unknown[]).length > 0,
        otherwise: `The pod's logs had no match: the pod shell is not where its files are. ${doctor}`,
      },
    );
    out(`\nThe session stays open in tmux. Watch or type in it yourself:\n   ${session.attach_command}`);
    out(`Browse its transcript in a browser: ssh-mcp viewer  (prints the URL with its token)`);
    out(
      `Close it from an MCP client with close_session("${sid}"), or: tmux -L ${session.attach_command.split(" ")[2] ?? "ssh-mcp"} kill-session -t ${sid}`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`demo: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await client.close();
  }
}
