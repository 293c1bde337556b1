import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { profileSchema, type Profile } from "../../src/config/schema.js";
import {
  checkBuiltCommand,
  checkCommand,
  checkKeys,
  checkText,
  shellParserReady,
  type InputContext,
  type PolicyFamily,
  type ScreenView,
  type Verdict,
} from "../../src/security/policy.js";

beforeAll(async () => {
  await shellParserReady();
});

/** A screen of a kind (guessed from the line when not given), for checks of text and keys. */
function ctx(
  line: string,
  o: { kind?: ScreenView["kind"]; running?: boolean; family?: PolicyFamily } = {},
): InputContext {
  const kind: ScreenView["kind"] =
    o.kind ??
    (/pass(word|phrase)[^\n]*:\s*$/i.test(line) ? "password" : /[#$%>] ?$/.test(line) ? "prompt" : "text");
  return { family: o.family ?? "posix", screen: () => ({ kind, line }), running: () => o.running ?? false };
}

function profile(security: Record<string, unknown>): Profile {
  return { ...profileSchema.parse({ host: "h", security }), host: "h", name: "p", keepalive_interval: 30 };
}

const readonly = profile({ mode: "readonly" });

function expectAllowed(v: Verdict, input: string): void {
  expect(v.allowed, `${JSON.stringify(input)} refused by ${v.rule}`).toBe(true);
}

function expectRefused(v: Verdict, input: string): void {
  expect(v.allowed, `${JSON.stringify(input)} allowed`).toBe(false);
  expect(v.rule).toMatch(/\S/);
}

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
    "LC_ALL=C env | sort",
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
    expectAllowed(checkText(readonly, t, false, ctx("Choose a host: ")), t);
  });

  it.each(["reboot", "rm -rf /"])("readonly refuses %j", (t) => {
    expectRefused(checkText(readonly, t, false, ctx("[ops@master-a ~]# ")), t);
  });

  it("readonly allows a read-only command", () => {
    expectAllowed(checkText(readonly, "ls -la", false, ctx("[ops@master-a ~]# ")), "ls -la");
  });

  it.each(["Password:", "Password: ", "Enter passphrase for key '/k':", "[sudo] password for ops: "])(
    "readonly allows sensitive text at %j",
    (last) => {
      expectAllowed(checkText(readonly, "hunter2", true, ctx(last)), last);
    },
  );

  it("readonly refuses sensitive text at a shell prompt", () => {
    expectRefused(checkText(readonly, "hunter2", true, ctx("[ops@master-a ~]# ")), "hunter2");
    expectRefused(checkText(readonly, "reboot", true, ctx("$ ")), "reboot");
  });

  it("restricted mode: sensitive text only at a password prompt", () => {
    const p = profile({ mode: "restricted", allow_patterns: ["^kubectl get "] });
    expectAllowed(checkText(p, "hunter2", true, ctx("Password:")), "hunter2");
    expectRefused(checkText(p, "hunter2", true, ctx("$ ")), "hunter2");
    expectAllowed(checkText(p, "kubectl get pods", false, ctx("$ ")), "kubectl get pods");
    expectRefused(checkText(p, "ls", false, ctx("$ ")), "ls");
  });

  it("unrestricted allows anything not matching deny_patterns", () => {
    const p = profile({ mode: "unrestricted", deny_patterns: ["rm\\s+-rf"] });
    expectAllowed(checkText(p, "reboot", false, ctx("$ ")), "reboot");
    expectAllowed(checkText(p, "hunter2", true, ctx("$ ")), "hunter2");
    expectRefused(checkText(p, "rm -rf /", false, ctx("$ ")), "rm -rf /");
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
    expectRefused(checkText(readonly, "rm -rf /", true, ctx("[ops@secret-store ~]# ")), "rm -rf /");
  });
});

// The classes of issue 13: expansion, syntax the old checker did not model, options of allowed
// programs. Each must be refused whatever the program table says about the literal form.
describe("readonly on a shell parser", () => {
  it.each([
    // expansion in names and options
    "find . -ex${X}ec touch F {} +",
    "find . ${X:--exec} touch F {} +",
    'find . $"-exec" touch F {} +',
    "find . $'-exec' touch F {} +",
    "find . \\-exec touch F {} +",
    'find . "-"exec touch F {} +',
    "{-exec,touch} F",
    "find . {-exec,-delete}",
    'awk "BEGIN{sys${X}tem(1)}"',
    "sed -${X}i s/a/b/ f",
    "sort ${X:--o}F f",
    "sort $X f",
    "ls $(touch F)",
    "l${X}s",
    "$X ls",
    // syntax it did not model
    "cat () ( touch F ); cat",
    "function cat { touch F; }",
    "${V:='a[$(touch F)]'}; echo ${!V}",
    "echo ${!V}",
    "echo ${#V}",
    "echo ${HOME:Q} ${HOME@P}",
    "echo $((1+2))",
    "[[ 1 -eq a[$(touch F)] ]]",
    "test $_ x",
    "test 1 -eq 'a[$(touch F)]'",
    "test -v 'a[$(touch F)]'",
    "( touch F )",
    "{ touch F; }",
    "if true; then touch F; fi",
    "for f in a; do touch $f; done",
    "ls <<EOF",
    "x=1",
    "export PROMPT_COMMAND='touch F'",
    "PATH=/tmp ls",
    "IFS=- ls",
    "eval touch F",
    "exec 3>F",
    "source F",
    ". F",
    "alias ls='touch F'",
    "trap 'touch F' EXIT",
    "command touch F",
    "builtin echo x > F",
    "time touch F",
    "coproc touch F",
    "echo !!",
    "echo x !-1",
    "^ls^touch F",
    "ls\ntouch F",
    "ls\rtouch F",
    "ls \\\n; touch F",
    "ls # comment",
    "ls > F",
    "ls >> F",
    "ls >| F",
    "ls &> F",
    "ls 2> F",
    "ls >&F",
    "ls <> F",
    "cat < F > G",
    "printf -v PROMPT_COMMAND 'touch F'",
    "printf $X y",
    // options of allowed programs
    "git --config-env=core.pager=VAR log",
    "git -c core.pager='touch F' log",
    "git -c alias.x='!touch F' x",
    "git --exec-path=/tmp log",
    "git log --output=F",
    "git log --out=F",
    "git diff --ext-diff",
    "git grep -O'touch F' x",
    "git grep --open-files-in-pager=sh x",
    "git grep -nO x",
    "git branch new",
    "git tag -a v1 -m x",
    "git config user.name x",
    "git remote add x y",
    "git stash",
    "git reflog expire --all",
    "sort --compress-program=sh f",
    "sort --comp=sh f",
    "sort -o F f",
    "sort -ro F f",
    "sort --output=F f",
    "sort -T /tmp f",
    "uniq - OUT",
    "uniq a b",
    "xargs -tI{} sh -c {}",
    "xargs -rE x touch",
    "xargs sed -i s/a/b/",
    "xargs find .",
    "echo -delete | xargs find .",
    "xargs -p ls",
    "file -C -m F",
    "kubectl --kubeconfig=/dev/stdin get pods",
    "kubectl get pods --kubeconfig=/dev/stdin",
    "KUBECONFIG=/dev/stdin kubectl get pods",
    "kubectl -f get delete pod x",
    "kubectl -w get delete pod x",
    "kubectl config -f view set-context x",
    "kubectl exec -it pod -- sh",
    "kubectl cluster-info dump",
    "kubectl get pods -v=9",
    "kubectl auth reconcile -f x",
    "docker container -a rm x",
    "docker --config /tmp ps",
    "docker rm x",
    "find . -fprint F",
    "find . -delete",
    "find . -execdir touch F \\;",
    "find . -ok touch F \\;",
    "find . -fls F",
    "find . -fprintf F x",
    "find . -newer x -delete",
    "find -D exec .",
    "awk 'BEGIN{print > \"F\"}'",
    "awk '{print | \"sh\"}'",
    "awk 'BEGIN{\"date\" | getline d}'",
    "awk -f F x",
    "awk -o x y",
    "awk '@load \"x\"'",
    "sed 'w F' f",
    "sed -n '1w F' f",
    "sed 's/a/b/w F' f",
    "sed 's/a/b/e' f",
    // GNU sed 4.9 reads a delimiter inside [...] as a character: the rest became s's e/w flags.
    "sed 's/[/]/;1{y,a,/e;/,}/s/p;/q/p' f",
    "sed 's/[/]/;y,a,/w F,' f",
    "sed '/[/]/w F' f",
    "sed 's/[[:alpha:]/]/x/w F' f",
    "sed 's/[^]/]/x/e' f",
    "sed 'e touch F' f",
    "sed '1r F' f",
    "sed 'a foo' f",
    "sed -i s/a/b/ f",
    "sed --in-place s/a/b/ f",
    "sed -s -i s/a/b/ f",
    "sed -f F f",
    "sed -e p -i f",
    "sed /tmp/w* f",
    "env -S 'touch F'",
    "env sh -c 'touch F'",
    "env PAGER=x git log",
    "env -u X touch F",
    "timeout 5 touch F",
    "nice -n 1 touch F",
    "nice touch F",
    "date -s 2020-01-01",
    "date 010100002020",
    "ss -tK",
    "ss -K dst 1.2.3.4",
    "ss --kill",
    "ss -D F",
    "journalctl --vacuum-size=1",
    "journalctl --vac=1",
    "journalctl --rot",
    "journalctl --cursor-file=F",
    "systemctl stop nginx",
    "systemctl -t service stop x",
    "systemctl --foo status stop",
    "ip -batch F",
    "ip netns exec x touch F",
    "ip link set lo down",
    "top",
    "tee F",
    "cp a b",
    "dd if=a of=b",
    "install a b",
    "ln -s a b",
    "mkdir d",
    "touch F",
    "/tmp/ls",
    "./ls",
    "rm F",
    "sort * f",
    "file [-]x",
    "find * -name x",
    "sed -n p ?",
    "constructor",
    "__proto__",
    "hasOwnProperty",
    // found by review: a `--` taken as an option's value, zsh subscripts, named fds, prefixes
    "git log -1 '--format=tformat:x' --decorate-refs -- --output=/tmp/F",
    "git show --decorate-refs -- --output=F",
    "git blame -L -- --output=F f",
    "git grep -e -- '-Otouch F; true' -e .",
    "journalctl -t -- --vacuum-time=1s",
    "journalctl -t -- --rotate",
    "echo $HOME['$(touch F)']",
    "ls $HOME['$(touch x)']",
    "printf '%d\\n' 'path[$(touch F)]'",
    "true {HISTFILE}>/dev/null",
    "echo {PATH}>/dev/null",
    "top -ubin",
    "top -d1",
    "ip link s lo down",
    "ip l s dev lo mtu 1400",
    "echo sh | xargs -I cat cat -c 'touch F'",
    "git stash -- list",
    "< /etc/passwd",
    "docker compose config -o F",
    "git config edit",
    "command touch F",
    "crontab F",
    "crontab -r",
    "hostnamectl set-hostname x",
    "timedatectl set-time 10:00",
    "git worktree add x",
    "git ls-remote --upload-pack='touch F' .",
  ])("refuses %j", (cmd) => {
    expectRefused(checkCommand(readonly, cmd), cmd);
  });

  it.each([
    "sed -n 1,2p /etc/passwd",
    "sed -n '/start/,/end/p' f",
    "sed 's/a/b/g; s/c/d/2' f",
    "sed -n '/[Ee]rror/p' f",
    "sed 's/[0-9][[:digit:]]*/N/g' f",
    "sed 's,[/],_,g' f",
    "sed -E 's|x|y|gI' f",
    "sed -n '$p' f",
    "sed '1d;$d' f",
    "sed -e 's/a/b/' -e 'y/abc/xyz/' f",
    "sed -n 1p /var/log/*.log",
    "git -C /srv/app log --oneline -5",
    "git -C /srv/app log --oneline -n 5 --since=yesterday",
    "git --no-pager show HEAD --stat",
    "git diff HEAD~1 --name-only",
    "git status -sb",
    "git branch -a",
    "git branch --list 'feat*'",
    "git tag -l 'v1*'",
    "git config --get user.name",
    "git config user.name",
    "git config --list",
    "git remote -v",
    "git grep -n foo",
    "git stash list",
    "git rev-parse HEAD",
    "grep -rn root /etc/passwd",
    "grep -rn --include='*.conf' listen /etc/nginx",
    "find /etc -maxdepth 1 -name 'host*'",
    "find /var/log -type f -mmin -30 -size +1M -printf '%p %s\\n'",
    "find . -name '*.log' -exec grep -l error {} +",
    "kubectl get pods -o yaml",
    "kubectl get pods -A -o wide",
    "kubectl -n payment get pods -l app=api",
    "kubectl get deploy api -n payment -o jsonpath='{.spec.replicas}'",
    "kubectl logs api-0 -c app --tail=100 -f",
    "kubectl describe node n1",
    "kubectl config view --minify",
    "kubectl config current-context",
    "kubectl auth can-i list pods",
    "kubectl top pods --sort-by=cpu",
    "journalctl -u nginx --since '1 hour ago' --no-pager",
    "journalctl -u x -n 50 -o cat",
    "systemctl status nginx --no-pager",
    "systemctl -t service list-units",
    "systemctl is-active nginx",
    "ps aux",
    "ps -ef | grep [n]ginx",
    "df -h",
    "ss -tlnp",
    "ip addr show",
    "ip -br a",
    "ip route get 1.1.1.1",
    "ls -la /tmp",
    "ls /var/log/*.log",
    "ls ./*.log",
    "cat /etc/hostname",
    "head -n 3 /etc/passwd | cut -d: -f1",
    "wc -l /etc/passwd",
    "sort /etc/passwd | uniq -c | sort -rn | head",
    "sort -t: -k3,3n /etc/passwd",
    "awk -F: '{print $1}' /etc/passwd | head -3",
    "awk '$3 == 0' /etc/passwd",
    'echo "$HOME"',
    "echo $HOME ${USER}",
    "uname -a",
    "id",
    "date",
    "date +%s",
    "date -u +%FT%T",
    "du -sh /tmp",
    "stat /etc/passwd",
    "xargs -0 -n1 ls",
    "xargs -tI{} cat {}",
    "find . -name x -print0 | xargs -0 grep -l y",
    "env LC_ALL=C sort f",
    "LC_ALL=C sort f",
    "TZ=UTC date",
    "timeout 5 cat f",
    "test -f /etc/passwd && echo yes",
    "test 1 -eq 1",
    "cat /etc/passwd 2>/dev/null | head",
    "ls >/dev/null 2>&1",
    "cat < /etc/passwd",
    "grep x <<< 'a x b'",
    "docker ps -a",
    "docker logs --tail 10 web",
    "docker container ls",
    "dmesg -T | tail",
    "hostname -f",
    "top -bn1 | head",
    "cd /var/log && ls",
    "file /bin/ls",
    "uniq -c f",
    "printf '%s\\n' a b",
    "awk '!seen[$0]++' f",
    "echo 'a!b'",
    "/usr/bin/ls -la",
    "sed -n '/x/{p;q}' f",
    "sed -n '1{p}' f",
    "sed -n '/a/,/b/{/x/p}' f",
    "journalctl --cursor=s=abc",
    "git reflog master",
    "git reflog",
    "kubectl auth can-i --list",
    "kubectl version --client",
    "kubectl get pods --field-selector=status.phase!=Running",
    "command -v nginx",
    "crontab -l",
    "hostnamectl",
    "timedatectl status",
    "git worktree list",
    "git ls-remote origin",
    "git stash show -p",
    "top -bn1",
    "echo $HOME",
    "ls && ls || ls; ls &",
  ])("allows %j", (cmd) => {
    expectAllowed(checkCommand(readonly, cmd), cmd);
  });

  it("refuses find -exec of a program that is not read-only whatever its options", () => {
    expectRefused(checkCommand(readonly, "find . -exec sed -i s/a/b/ {} +"), "find -exec sed");
    expectRefused(checkCommand(readonly, "find . -exec grep x {} ; -delete"), "find -exec ; -delete");
  });

  it("fish and csh: only what reads the same as in bash", () => {
    const fish = (c: string): Verdict => checkCommand(readonly, c, "fish");
    expectAllowed(fish("ls -la /tmp | grep x"), "fish ls");
    expectAllowed(fish("grep 'a b' f"), "fish grep");
    expectRefused(fish("echo (touch F)"), "fish (cmd)");
    expectRefused(fish("ls ^F"), "old fish ^ redirection");
    expectRefused(fish("echo 'x\\' ; touch F ; echo '"), "fish backslash in quotes");
    expectRefused(fish('echo "$(touch F)"'), "fish $()");
    expectRefused(checkCommand(readonly, "echo 'a!b'", "csh"), "csh ! in quotes");
    expectRefused(checkCommand(readonly, "ls", "other"), "no shell");
  });
});

describe("checkText and checkKeys: the screen decides", () => {
  it("a secret only at a password prompt with no command line running", () => {
    expectAllowed(checkText(readonly, "hunter2", true, ctx("Password: ")), "login password");
    expectRefused(checkText(readonly, "touch F", true, ctx("Password: ", { running: true })), "typeahead");
    expectRefused(checkText(readonly, "touch F", true, ctx("$ ")), "at a prompt");
  });

  it("pagers take navigation keys and q only", () => {
    const pager = ctx(":", { kind: "pager" });
    for (const k of ["q", "j", " ", "G"]) expectAllowed(checkText(readonly, k, false, pager, false), k);
    for (const k of ["!touch F", "s", "v", "|", ":e F"])
      expectRefused(checkText(readonly, k, false, pager, false), k);
    expectAllowed(checkKeys(readonly, ["Down", "PageDown", "q"], pager), "nav keys");
    expectRefused(checkKeys(readonly, ["!", "t", "Enter"], pager), "! in less");
    expectRefused(checkKeys(readonly, ["s"], pager), "save in less");
  });

  it("keys at a prompt are a command line ending in Enter", () => {
    const at = ctx("$ ");
    expectAllowed(checkKeys(readonly, ["l", "s", "Enter"], at), "ls");
    expectRefused(
      checkKeys(readonly, [..."touch F"].map((c) => (c === " " ? "Space" : c)).concat("Enter"), at),
      "touch",
    );
    expectRefused(checkKeys(readonly, ["t", "o", "u"], at), "no Enter");
    expectRefused(checkKeys(readonly, ["Up", "Enter"], at), "history");
    expectRefused(checkKeys(readonly, ["C-r", "t", "Enter"], at), "reverse search");
    expectRefused(checkKeys(readonly, ["l", "Tab", "Enter"], at), "completion");
    expectAllowed(checkKeys(readonly, ["C-c"], at), "C-c");
  });

  it("editors may only be left", () => {
    const vi = ctx("-- INSERT --", { kind: "editor" });
    expectAllowed(checkKeys(readonly, ["Escape", ":", "q", "!", "Enter"], vi), ":q!");
    expectRefused(checkKeys(readonly, ["Escape", ":", "!", "t", "Enter"], vi), ":!t");
    expectRefused(checkText(readonly, ":!touch F", false, vi), "text in vi");
  });

  it("unrestricted: keys are checked against deny_patterns as typed text", () => {
    const p = profile({ deny_patterns: ["reboot"] });
    expectRefused(checkKeys(p, [..."reboot", "Enter"], ctx("$ ")), "reboot keys");
    expectAllowed(checkKeys(p, ["l", "s", "Enter"], ctx("$ ")), "ls keys");
  });
});

// Property: whatever quoting, expansion, option clustering or wrapping is put around a command
// that writes, readonly never accepts it; harmless quoting of a read-only command keeps it allowed.
describe("readonly: generated attempts", () => {
  const CORES: string[][] = [
    ["touch", "F"],
    ["find", ".", "-delete"],
    ["find", ".", "-exec", "touch", "F", ";"],
    ["sed", "-i", "s/a/b/", "f"],
    ["sed", "-n", "w F", "f"],
    ["sort", "-o", "F", "f"],
    ["sort", "--compress-program=sh", "f"],
    ["tee", "F"],
    ["rm", "F"],
    ["git", "-c", "core.pager=touch F", "log"],
    ["xargs", "-I{}", "touch", "{}"],
    ["kubectl", "delete", "pod", "x"],
    ["awk", 'BEGIN{system("touch F")}'],
    ["uniq", "a", "F"],
    ["date", "-s", "2020-01-01"],
  ];
  const quoteWord = (w: string, how: number, at: number): string => {
    const k = Math.min(at, w.length);
    const sq = (x: string): string => `'${x.replace(/'/g, `'\\''`)}'`;
    switch (how) {
      case 0:
        return sq(w);
      case 1:
        return /["\\$`!]/.test(w) ? sq(w) : `"${w}"`;
      case 2:
        return w.slice(0, k) + sq(w.slice(k));
      case 3:
        return /^[A-Za-z0-9._/-]+$/.test(w) && k < w.length ? `${w.slice(0, k)}\\${w.slice(k)}` : sq(w);
      case 4:
        return `${w.slice(0, k)}\${X}${w.slice(k)}`;
      case 5:
        return `${w.slice(0, k)}$X${w.slice(k)}`;
      case 6:
        return `${w.slice(0, k)}""${w.slice(k)}`;
      case 7:
        return `{${sq(w)},}`;
      case 8:
        return `\${X:-${sq(w)}}`;
      case 9:
        return `$'${w.replace(/'/g, "\\'")}'`;
      default:
        return /^[A-Za-z0-9._/=-]+$/.test(w) ? w : sq(w);
    }
  };
  const WRAPS = [
    (c: string) => c,
    (c: string) => `env ${c}`,
    (c: string) => `xargs ${c}`,
    (c: string) => `timeout 5 ${c}`,
    (c: string) => `nice ${c}`,
    (c: string) => `command ${c}`,
    (c: string) => `eval ${c}`,
    (c: string) => `LC_ALL=C ${c}`,
    (c: string) => `ls; ${c}`,
    (c: string) => `ls && ${c}`,
    (c: string) => `ls | ${c}`,
    (c: string) => `ls & ${c}`,
    (c: string) => `echo $(${c})`,
    (c: string) => `echo "\`${c}\`"`,
    (c: string) => `(${c})`,
    (c: string) => `{ ${c}; }`,
    (c: string) => `f() { ${c}; }; f`,
    (c: string) => `cat <(${c})`,
    (c: string) => `find . -exec ${c} {} +`,
  ];

  it("never accepts a command that writes, however it is written", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CORES),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 8 })), {
          minLength: 8,
          maxLength: 8,
        }),
        fc.constantFrom(...WRAPS),
        (core, quoting, wrap) => {
          const line = wrap(
            core.map((w, i) => quoteWord(w, quoting[i]?.[0] ?? 10, quoting[i]?.[1] ?? 0)).join(" "),
          );
          const v = checkCommand(readonly, line);
          expect(v.allowed, `${line} was allowed`).toBe(false);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("keeps read-only commands allowed under harmless quoting", () => {
    const SAFE: string[][] = [
      ["ls", "-la", "/var/log"],
      ["grep", "-rn", "error", "/var/log/app.log"],
      ["sed", "-n", "1,2p", "/etc/passwd"],
      ["git", "-C", "/srv", "log", "--oneline"],
      ["kubectl", "get", "pods", "-o", "yaml"],
      ["find", "/etc", "-name", "host*"],
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...SAFE),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 8 })), {
          minLength: 6,
          maxLength: 6,
        }),
        (cmd, quoting) => {
          // Quote removal gives back the same words: '...', "...", a split quote, a backslash.
          const line = cmd.map((w, i) => quoteWord(w, quoting[i]?.[0] ?? 0, quoting[i]?.[1] ?? 0)).join(" ");
          const v = checkCommand(readonly, line);
          expect(v.allowed, `${line} refused: ${v.rule}`).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("checkBuiltCommand (search_logs' own line)", () => {
  const line = "find '/var/log' -type f -name '*.log' -exec sh -c '...' sh {} +";
  it("runs under readonly only where a POSIX shell reads it; deny_patterns always apply", () => {
    expectAllowed(checkBuiltCommand(readonly, line, "posix", "search_logs"), "posix");
    expectRefused(checkBuiltCommand(readonly, line, "fish", "search_logs"), "fish");
    expectAllowed(checkBuiltCommand(profile({}), line, "fish", "search_logs"), "unrestricted fish");
    expectRefused(
      checkBuiltCommand(profile({ deny_patterns: ["var/log"] }), line, "posix", "search_logs"),
      "deny",
    );
  });
});
