import { describe, expect, it } from "vitest";
import { profileSchema, type Profile } from "../../src/config/schema.js";
import { checkCommand, checkText, splitCommands, words, type Verdict } from "../../src/security/policy.js";

function profile(security: Record<string, unknown>): Profile {
  return { ...profileSchema.parse({ host: "h", security }), name: "p", keepalive_interval: 30 };
}

const readonly = profile({ mode: "readonly" });

function expectAllowed(v: Verdict, input: string): void {
  expect(v.allowed, `${JSON.stringify(input)} refused by ${v.rule}`).toBe(true);
}

function expectRefused(v: Verdict, input: string): void {
  expect(v.allowed, `${JSON.stringify(input)} allowed`).toBe(false);
  expect(v.rule).toMatch(/\S/);
}

describe("splitCommands", () => {
  it("splits on &&, ||, |, ;, & and newlines", () => {
    expect(splitCommands("a 1 && b 2 || c | d; e\nf & g")).toEqual({
      commands: ["a 1", "b 2", "c", "d", "e", "f", "g"],
    });
  });

  it("does not split inside quotes or on escaped separators", () => {
    expect(splitCommands(`echo 'a;b' "c|d && e" f\\;g`)).toEqual({
      commands: [`echo 'a;b' "c|d && e" f\\;g`],
    });
    expect(splitCommands(`echo "a\\"; b" | wc`)).toEqual({ commands: [`echo "a\\"; b"`, "wc"] });
  });

  it("keeps 2>&1 and >/dev/null inside the command", () => {
    expect(splitCommands("ls 2>&1 | wc -l")).toEqual({ commands: ["ls 2>&1", "wc -l"] });
    expect(splitCommands("cat a >/dev/null 2>&1")).toEqual({ commands: ["cat a >/dev/null 2>&1"] });
    expect(splitCommands("grep x a 2> /dev/null; ls")).toEqual({ commands: ["grep x a 2> /dev/null", "ls"] });
  });

  it("drops empty commands", () => {
    expect(splitCommands(" ;; ls ;\n\n")).toEqual({ commands: ["ls"] });
    expect(splitCommands("")).toEqual({ commands: [] });
  });

  it("flags substitutions, redirections and unbalanced quotes", () => {
    expect(splitCommands("ls $(id)")).toEqual({ commands: [], unsafe: "command substitution" });
    expect(splitCommands("ls `id`")).toEqual({ commands: [], unsafe: "command substitution" });
    expect(splitCommands(`ls "$(id)"`)).toEqual({ commands: [], unsafe: "command substitution" });
    expect(splitCommands("cat <(id)")).toEqual({ commands: [], unsafe: "process substitution" });
    expect(splitCommands("ls > out")).toEqual({ commands: [], unsafe: "output redirection" });
    expect(splitCommands("ls >> out")).toEqual({ commands: [], unsafe: "output redirection" });
    expect(splitCommands(`echo "abc`)).toEqual({ commands: [], unsafe: "unbalanced quote" });
    expect(splitCommands(`echo 'abc`)).toEqual({ commands: [], unsafe: "unbalanced quote" });
  });

  it("treats $( and backticks inside single quotes as text", () => {
    expect(splitCommands("echo '$(id) `id`'")).toEqual({ commands: ["echo '$(id) `id`'"] });
  });
});

describe("words", () => {
  it("splits on whitespace", () => {
    expect(words("ls  -la\t/var/log ")).toEqual(["ls", "-la", "/var/log"]);
  });

  it("removes quotes and keeps quoted whitespace", () => {
    expect(words(`echo 'a b' "c d" x'y'"z"`)).toEqual(["echo", "a b", "c d", "xyz"]);
    expect(words(`echo "it's" 'say "hi"'`)).toEqual(["echo", "it's", 'say "hi"']);
  });

  it("keeps empty quoted words", () => {
    expect(words(`echo '' "" x`)).toEqual(["echo", "", "", "x"]);
  });

  it("handles backslash escapes outside quotes", () => {
    expect(words("echo a\\ b c\\;d")).toEqual(["echo", "a b", "c;d"]);
  });

  it("handles an escaped double quote inside double quotes", () => {
    // The shell reads "a\"b" as one word a"b.
    expect(words(`echo "a\\"b" c`)).toEqual(["echo", 'a"b', "c"]);
  });

  it("keeps redirections as words", () => {
    expect(words("grep -c x a.log 2>/dev/null")).toEqual(["grep", "-c", "x", "a.log", "2>/dev/null"]);
  });
});

describe("checkCommand: readonly", () => {
  const allowed = [
    "ls -la /var/log",
    "tail -n 100 /var/log/app.log | grep -i error | wc -l",
    "kubectl get pods -n payment",
    "kubectl logs x --tail=10",
    "find /var/log -name '*.log' -mtime -1",
    "grep -c timeout a.log 2>/dev/null",
    "cat a.log >/dev/null 2>&1",
    "sed -n '1,10p' f",
    "awk '{print $1}' f",
    "xargs grep foo",
    "git log --oneline",
    "FOO=1 env | sort",
    "ps aux | head",
    `echo "a; b" | cut -d';' -f1`,
    "echo '$(rm x)'",
    "kubectl config view",
    "docker ps -a",
  ];
  it.each(allowed)("allows %s", (cmd) => {
    expectAllowed(checkCommand(readonly, cmd), cmd);
  });

  const refused = [
    "rm -rf /tmp/x",
    "find / -name x -delete",
    "find . -exec rm {} \\;",
    "sed -i 's/a/b/' f",
    "sed -ni p f",
    `awk 'BEGIN{system("rm -rf /")}'`,
    `awk '{print > "out"}' f`,
    "ls | xargs rm",
    "echo hi > /etc/motd",
    "cat a >> b",
    "sudo ls",
    "ls $(rm -rf /)",
    "ls `reboot`",
    "cat <(rm x)",
    "ls; reboot",
    "ls && shutdown -h now",
    "kubectl delete pod x",
    "kubectl exec -it x -- sh",
    "git push",
    "docker run alpine",
    `echo "unterminated`,
    "env rm -rf /",
    "/bin/rm x",
    `ls "$(rm x)"`,
    "ls | sh",
    "kubectl config set-context x",
  ];
  it.each(refused)("refuses %s", (cmd) => {
    expectRefused(checkCommand(readonly, cmd), cmd);
  });

  it("names the reason", () => {
    expect(checkCommand(readonly, "ls $(id)").rule).toMatch(/command substitution/);
    expect(checkCommand(readonly, "ls > f").rule).toMatch(/redirection/);
    expect(checkCommand(readonly, "ls; reboot").rule).toMatch(/reboot/);
    expect(checkCommand(readonly, "find . -delete").rule).toMatch(/-delete/);
  });
});

describe("checkCommand: deny_patterns and restricted", () => {
  it("applies deny_patterns in unrestricted mode", () => {
    const p = profile({ mode: "unrestricted", deny_patterns: ["rm\\s+-rf"] });
    const v = checkCommand(p, "rm -rf /");
    expectRefused(v, "rm -rf /");
    expect(v.rule).toContain("rm\\s+-rf");
    expectAllowed(checkCommand(p, "ls"), "ls");
    expectAllowed(checkCommand(p, "reboot"), "reboot");
  });

  it("applies deny_patterns in readonly mode", () => {
    const p = profile({ mode: "readonly", deny_patterns: ["^cat "] });
    expectRefused(checkCommand(p, "cat /etc/shadow"), "cat /etc/shadow");
    expectAllowed(checkCommand(p, "ls"), "ls");
  });

  it("restricted mode allows only allow_patterns matches", () => {
    const p = profile({ mode: "restricted", allow_patterns: ["^kubectl get "] });
    expectAllowed(checkCommand(p, "kubectl get pods"), "kubectl get pods");
    expectRefused(checkCommand(p, "ls"), "ls");
    expectRefused(checkCommand(p, "kubectl delete pod x"), "kubectl delete pod x");
  });

  it("restricted mode: deny_patterns win over allow_patterns", () => {
    const p = profile({ mode: "restricted", allow_patterns: ["^kubectl "], deny_patterns: ["delete"] });
    expectAllowed(checkCommand(p, "kubectl get pods"), "kubectl get pods");
    expectRefused(checkCommand(p, "kubectl delete pod x"), "kubectl delete pod x");
  });

  it("restricted mode with no allow_patterns refuses everything", () => {
    expectRefused(checkCommand(profile({ mode: "restricted" }), "ls"), "ls");
  });
});

describe("checkText", () => {
  it.each(["10.0.0.11", "1", "q", "y", "", "10.0.0.11:22"])("readonly allows menu answer %j", (t) => {
    expectAllowed(checkText(readonly, t, false, "Choose a host: "), t);
  });

  it.each(["reboot", "rm -rf /"])("readonly refuses %j", (t) => {
    expectRefused(checkText(readonly, t, false, "[ops@master-a ~]# "), t);
  });

  it("readonly allows a read-only command", () => {
    expectAllowed(checkText(readonly, "ls -la", false, "[ops@master-a ~]# "), "ls -la");
  });

  it.each(["Password:", "Password: ", "Enter passphrase for key '/k':", "[sudo] password for ops: "])(
    "readonly allows sensitive text at %j",
    (last) => {
      expectAllowed(checkText(readonly, "hunter2", true, last), last);
    },
  );

  it("readonly refuses sensitive text at a shell prompt", () => {
    expectRefused(checkText(readonly, "hunter2", true, "[ops@master-a ~]# "), "hunter2");
    expectRefused(checkText(readonly, "reboot", true, "$ "), "reboot");
  });

  it("restricted mode: sensitive text only at a password prompt", () => {
    const p = profile({ mode: "restricted", allow_patterns: ["^kubectl get "] });
    expectAllowed(checkText(p, "hunter2", true, "Password:"), "hunter2");
    expectRefused(checkText(p, "hunter2", true, "$ "), "hunter2");
    expectAllowed(checkText(p, "kubectl get pods", false, "$ "), "kubectl get pods");
    expectRefused(checkText(p, "ls", false, "$ "), "ls");
  });

  it("unrestricted allows anything not matching deny_patterns", () => {
    const p = profile({ mode: "unrestricted", deny_patterns: ["rm\\s+-rf"] });
    expectAllowed(checkText(p, "reboot", false, "$ "), "reboot");
    expectAllowed(checkText(p, "hunter2", true, "$ "), "hunter2");
    expectRefused(checkText(p, "rm -rf /", false, "$ "), "rm -rf /");
  });
});

// Cases beyond the original list, found while testing: each is a command that changes the
// system (or runs another command) yet passes readonly, or a harmless one that is refused.
describe("readonly loopholes", () => {
  it.each([
    // words() ends a double-quoted word at \" so a later -i/-delete is hidden in one "word".
    `sed "s/a/\\"/" -i f`,
    `find . -name "*\\"*" -o -delete`,
    // env: flags of the command it runs are dropped before the check.
    "env find . -delete",
    "env sed -i s/a/b/ f",
    // xargs: an option's argument is taken for the command.
    "ls | xargs -I grep rm grep",
    // A leading assignment that makes an allowed command run another one.
    "GIT_PAGER='rm -rf /tmp/x' git log",
    // git verbs that are read-only only without arguments.
    "git branch -D main",
    "git tag -d v1",
    // sed commands with an address, and the s///e flag.
    "sed '1e reboot' f",
    "sed 's/^/reboot/e' f",
    "sed -n '1w /tmp/out' f",
    // >/dev/null matched as a prefix.
    "echo hi >/dev/nullx",
    // allow-listed commands whose arguments change the system or write files.
    "ip link set eth0 down",
    "ip route del default",
    "date -s '2020-01-01'",
    "hostname evil",
    "journalctl --vacuum-time=1s",
    "dmesg -C",
    "ss -K dst 10.0.0.1",
    "history -c",
    "sort -o /etc/passwd /etc/passwd",
    "uniq a.log /etc/motd",
    "less -o /tmp/copy f",
    // kubectl config checks "view" anywhere in the arguments.
    "kubectl config use-context view",
  ])("refuses %s", (cmd) => {
    expectRefused(checkCommand(readonly, cmd), cmd);
  });

  it.each(["sed -n '1,5p' web.log", "sed -n 1p e.log"])("allows %s (file name starting with w/e)", (cmd) => {
    expectAllowed(checkCommand(readonly, cmd), cmd);
  });

  it("refuses sensitive text at a shell prompt whose host name contains 'secret'", () => {
    expectRefused(checkText(readonly, "rm -rf /", true, "[ops@secret-store ~]# "), "rm -rf /");
  });
});
