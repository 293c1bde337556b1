import type { Profile } from "../config/schema.js";

/**
 * Command policy per profile (`security.mode`), checked before anything is typed:
 * - unrestricted: anything (deny_patterns still apply);
 * - readonly: every simple command of the line must be on a read-only allow-list, with the
 *   loopholes of naive lists closed (find -delete/-exec, sed -i, awk system(), xargs running a
 *   non-read-only command, output redirection, command substitution, sudo, ...);
 * - restricted: the whole command must match one of allow_patterns.
 * It is a guard rail for an agent on a production bastion, not a sandbox: the remote account's
 * own permissions remain the real boundary.
 */
export interface Verdict {
  allowed: boolean;
  rule?: string;
}

const READ_ONLY = new Set([
  "ls",
  "cat",
  "head",
  "tail",
  "grep",
  "egrep",
  "fgrep",
  "zgrep",
  "zcat",
  "wc",
  "sort",
  "uniq",
  "cut",
  "tr",
  "nl",
  "column",
  "file",
  "stat",
  "du",
  "df",
  "free",
  "uptime",
  "uname",
  "hostname",
  "whoami",
  "id",
  "date",
  "ps",
  "pgrep",
  "pwd",
  "echo",
  "printf",
  "env",
  "printenv",
  "which",
  "type",
  "true",
  "false",
  "test",
  "[",
  "find",
  "sed",
  "awk",
  "xargs",
  "jq",
  "md5sum",
  "sha256sum",
  "basename",
  "dirname",
  "readlink",
  "realpath",
  "journalctl",
  "dmesg",
  "netstat",
  "ss",
  "ip",
  "lsof",
  "vmstat",
  "iostat",
  "kubectl",
  "git",
  "docker",
  "cd",
]);

const KUBECTL_READ = new Set([
  "get",
  "describe",
  "logs",
  "top",
  "explain",
  "version",
  "api-resources",
  "api-versions",
  "cluster-info",
  "config",
]);
const GIT_READ = new Set(["log", "show", "status", "diff", "branch", "tag", "rev-parse", "blame"]);
const DOCKER_READ = new Set(["ps", "logs", "inspect", "images", "stats", "top", "version", "info"]);

/** Splits a command line into simple commands on ; && || | & and newlines, outside quotes. */
export function splitCommands(line: string): { commands: string[]; unsafe?: string } {
  // Forms whose meaning a simple splitter cannot know for sure: refused outright.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(line)) return { commands: [], unsafe: "control characters" };
  if (line.includes("$'")) return { commands: [], unsafe: "$'...' quoting" };
  if (/\$\[|\$\{[^}]*@/.test(line)) return { commands: [], unsafe: "arithmetic or prompt expansion" };
  const out: string[] = [];
  let cur = "";
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    const next = line[i + 1];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (quote === '"' && (c === "`" || (c === "$" && next === "(")))
        return { commands: [], unsafe: "command substitution" };
      else if (quote === '"' && c === "\\") {
        cur += c + (next ?? "");
        i++;
        continue;
      }
      cur += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      cur += c;
    } else if (c === "#" && (cur === "" || /\s$/.test(cur))) {
      return { commands: [], unsafe: "a # comment" };
    } else if (c === "\\") {
      cur += c + (next ?? "");
      i++;
    } else if (c === "`" || (c === "$" && next === "(")) {
      return { commands: [], unsafe: "command substitution" };
    } else if ((c === "<" || c === ">") && next === "(") {
      return { commands: [], unsafe: "process substitution" };
    } else if (c === ">") {
      // 2>&1 and >/dev/null are harmless; any other output redirection writes a file.
      const rest = line.slice(i);
      const m = /^>>?\s*(&[12]|\/dev\/null)(?![\w/.-])/.exec(rest);
      if (!m) return { commands: [], unsafe: "output redirection" };
      cur += m[0];
      i += m[0].length - 1;
    } else if (c === ";" || c === "|" || c === "&" || c === "\n") {
      if (c === "&" && line[i - 1] === ">") {
        cur += c;
        continue;
      }
      if (cur.trim()) out.push(cur.trim());
      cur = "";
      if ((c === "|" || c === "&") && next === c) i++;
    } else {
      cur += c;
    }
  }
  if (quote) return { commands: [], unsafe: "unbalanced quote" };
  if (cur.trim()) out.push(cur.trim());
  return { commands: out };
}

/** Shell-like words of one simple command (quotes removed; no expansion). */
export function words(command: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: "'" | '"' | undefined;
  let any = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (quote === '"' && c === "\\" && /["\\$`]/.test(command[i + 1] ?? "")) {
        cur += command[i + 1];
        i++;
      } else cur += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      any = true;
    } else if (c === "\\") {
      cur += command[i + 1] ?? "";
      i++;
      any = true;
    } else if (/\s/.test(c)) {
      if (cur || any) out.push(cur);
      cur = "";
      any = false;
    } else {
      cur += c;
      any = true;
    }
  }
  if (cur || any) out.push(cur);
  return out;
}

/** Variables that make an allowed program run something else. */
const RISKY_VAR =
  /PAGER|EDITOR|VISUAL|^LD_|^GIT_|^LESS|^BASH_ENV$|^ENV$|^PATH$|^PS4$|^PROMPT_COMMAND$|^SHELL$|^IFS$/;

const refuse = (rule: string): Verdict => ({ allowed: false, rule: `readonly: ${rule}` });

/** Options that take a value, per program, so the value is not mistaken for the command. */
function skipOptions(args: string[], withValue: RegExp): number {
  let i = 0;
  while (i < args.length) {
    const a = args[i] as string;
    if (a === "--") return i + 1;
    if (!a.startsWith("-") || a === "-") return i;
    i += withValue.test(a) ? 2 : 1;
  }
  return i;
}

/** sed scripts: refuse the e/w/W commands and the e/w flags of s///. */
function sedScriptWrites(script: string): boolean {
  for (const piece of script.split(/[;\n}]/)) {
    const cmd = piece.replace(
      /^\s*(?:(?:\d+|\$|\/(?:[^/\\]|\\.)*\/[I]*)\s*(?:,\s*(?:\d+|\$|\/(?:[^/\\]|\\.)*\/[I]*))?\s*!?\s*)?\{?\s*/,
      "",
    );
    const c = cmd[0];
    if (c === "e" || c === "w" || c === "W") return true;
    if (c === "s" && cmd.length > 1) {
      const d = cmd[1] as string;
      let i = 2;
      let parts = 0;
      while (i < cmd.length && parts < 2) {
        if (cmd[i] === "\\") i++;
        else if (cmd[i] === d) parts++;
        i++;
      }
      if (/[ew]/.test(cmd.slice(i).split(/\s/)[0] ?? "")) return true;
    }
  }
  return false;
}

function checkWords(all: string[]): Verdict {
  let w = all;
  // Leading VAR=value assignments only affect this command, unless they redirect it elsewhere.
  while (w.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[0] as string)) {
    const name = (w[0] as string).slice(0, (w[0] as string).indexOf("="));
    if (RISKY_VAR.test(name)) return refuse(`${name}= can make a command run another program`);
    w = w.slice(1);
  }
  if (!w.length) return all.length ? refuse("a bare assignment changes the shell") : { allowed: true };
  const first = w[0] as string;
  if (first.includes("/") && !/^\/(usr\/)?(local\/)?s?bin\/[^/]+$/.test(first))
    return refuse(`'${first}' is not a system program path`);
  const name = first.replace(/^.*\//, "");
  if (!READ_ONLY.has(name)) return refuse(`'${name}' is not a read-only command`);
  const args = w.slice(1);
  const has = (re: RegExp): string | undefined => args.find((a) => re.test(a));
  if ((name === "printf" || name === "test" || name === "[") && has(/^-v/))
    return refuse(`${name} -v assigns or evaluates`);
  switch (name) {
    case "find": {
      const bad = has(/^-(delete|exec|execdir|ok|okdir|fprint|fprint0|fprintf|fls)$/);
      if (bad) return refuse(`find ${bad} changes files or runs commands`);
      break;
    }
    case "sed": {
      if (has(/^(-i|--i)|^-[a-zA-Z]*i/)) return refuse("sed -i edits files");
      // Coarse on purpose: any w/W/e command-looking text in any argument is refused.
      if (
        args.some(
          (a) =>
            /(^|[^A-Za-z])[wWe]\s*\S|(^|[^A-Za-z\\])[wWe]$/.test(a) &&
            !a.startsWith("-") &&
            /[;/{}%~0-9$]/.test(a),
        )
      ) {
        return refuse("sed e/w commands run commands or write files");
      }
      if (has(/^(-f|--file)/)) return refuse("sed -f runs a script file");
      const scripts: string[] = [];
      for (let i = 0; i < args.length; i++) {
        const a = args[i] as string;
        if (/^-[a-zA-Z]*e$/.test(a) || a === "--expression") scripts.push(args[++i] ?? "");
        else if (a.startsWith("--expression=")) scripts.push(a.slice(13));
      }
      if (!scripts.length) {
        const first = args.find((a) => !a.startsWith("-"));
        if (first !== undefined) scripts.push(first);
      }
      if (scripts.some(sedScriptWrites)) return refuse("sed e/w commands run commands or write files");
      break;
    }
    case "awk":
      if (has(/^-f|^--file/)) return refuse("awk -f runs a program file");
      if (args.some((a) => /system\s*\(|\||getline|>/.test(a)))
        return refuse("awk system(), pipes or redirection");
      break;
    case "xargs": {
      // -e, -i and -l take their value attached; these take the next word.
      const i = skipOptions(
        args,
        /^(-I|-L|-n|-P|-s|-d|-E|-a|--arg-file|--delimiter|--max-args|--max-procs)$/,
      );
      return i >= args.length ? { allowed: true } : checkWords(args.slice(i));
    }
    case "env": {
      const opt = args.find(
        (a) => a.startsWith("-") && !/^(-i|-0|-u|--ignore-environment|--null|--unset=.*)$/.test(a),
      );
      if (opt) return refuse(`env ${opt}`);
      let i = skipOptions(args, /^(-u)$/);
      while (i < args.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(args[i] as string)) {
        const n = (args[i] as string).split("=")[0] as string;
        if (RISKY_VAR.test(n)) return refuse(`${n}= can make a command run another program`);
        i++;
      }
      return i >= args.length ? { allowed: true } : checkWords(args.slice(i));
    }
    case "kubectl": {
      // The verb comes first: global flags before it could hide another verb (-n get delete).
      const verbs = args.filter((a) => !a.startsWith("-"));
      const verb = args[0]?.startsWith("-") ? undefined : verbs[0];
      if (!verb || !KUBECTL_READ.has(verb)) return refuse(`kubectl ${verb ?? ""} is not read-only`);
      if (
        verb === "config" &&
        !["view", "get-contexts", "current-context", "get-clusters"].includes(verbs[1] ?? "")
      ) {
        return refuse("kubectl config changes configuration");
      }
      break;
    }
    case "git": {
      const verb = args.find((a) => !a.startsWith("-"));
      if (!verb || !GIT_READ.has(verb)) return refuse(`git ${verb ?? ""} is not read-only`);
      if (
        (verb === "branch" || verb === "tag") &&
        args.filter((a) => a !== verb).some((a) => !/^(-a|-r|-l|--list|-v|-vv|--all|--remotes)$/.test(a))
      ) {
        return refuse(`git ${verb} with arguments can create or delete`);
      }
      if (has(/^--output/)) return refuse("git --output writes a file");
      break;
    }
    case "docker": {
      const verb = args[0]?.startsWith("-") ? undefined : args[0];
      if (!verb || !DOCKER_READ.has(verb)) return refuse(`docker ${verb ?? ""} is not read-only`);
      break;
    }
    case "ip":
      if (
        args.some(
          (a) =>
            !/^(-[a-z0-9]+|addr|address|a|link|l|route|r|neigh|n|show|list|ls|dev|[a-z]+[0-9]+|lo)$/.test(a),
        )
      ) {
        return refuse("ip: only show/list of addr, link, route, neigh");
      }
      if (args.some((a) => /^(add|del|delete|set|change|replace|flush)$/.test(a)))
        return refuse("ip changes the network");
      break;
    case "date":
      if (has(/^(-s|--set)/)) return refuse("date -s sets the clock");
      break;
    case "hostname":
      if (args.some((a) => !/^-[fisdIA]$/.test(a))) return refuse("hostname NAME changes the host name");
      break;
    case "journalctl":
      if (has(/^--(vacuum|rotate|flush|sync|relinquish|smart-relinquish|setup-keys)/))
        return refuse("journalctl maintenance options");
      break;
    case "dmesg":
      if (has(/^(-C|-c|-D|-E|-n|--clear|--read-clear|--console-off|--console-on|--console-level)/))
        return refuse("dmesg clears or configures the ring buffer");
      break;
    case "ss":
      if (has(/^(-K|--kill)$/)) return refuse("ss -K kills sockets");
      break;
    case "sort":
      if (has(/^-[a-zA-Z]*o|^--o/)) return refuse("sort -o writes a file");
      break;
    case "uniq":
      if (args.filter((a) => !a.startsWith("-")).length > 1) return refuse("uniq INPUT OUTPUT writes a file");
      break;
  }
  return { allowed: true };
}

function checkSimple(command: string): Verdict {
  return checkWords(words(command));
}

function matchAny(patterns: string[], text: string): string | undefined {
  for (const p of patterns) {
    try {
      if (new RegExp(p).test(text)) return p;
    } catch {
      // validated at config load; an invalid one never matches
    }
  }
  return undefined;
}

/** The verdict for a command line under the profile's policy. */
export function checkCommand(profile: Profile, command: string): Verdict {
  const sec = profile.security;
  const denied = matchAny(sec.deny_patterns, command);
  if (denied) return { allowed: false, rule: `deny_patterns: /${denied}/` };
  if (sec.mode === "unrestricted") return { allowed: true };
  if (sec.mode === "restricted") {
    // Every simple command of the line must match an allow pattern: `allowed; reboot` is not.
    const parts = splitCommands(command);
    if (parts.unsafe) return { allowed: false, rule: `restricted: ${parts.unsafe}` };
    for (const c of parts.commands) {
      if (!matchAny(sec.allow_patterns, c))
        return { allowed: false, rule: `restricted: '${c.slice(0, 60)}' matches no allow_patterns` };
    }
    return { allowed: true };
  }
  const split = splitCommands(command);
  if (split.unsafe) return { allowed: false, rule: `readonly: ${split.unsafe}` };
  for (const c of split.commands) {
    const v = checkSimple(c);
    if (!v.allowed) return v;
  }
  return { allowed: true };
}

/**
 * send_text under readonly: short menu answers (an IP, a number, y/q) cannot run anything and
 * pass; a secret passes only at a password/passphrase prompt; anything else must be an allowed
 * command line.
 */
export function checkText(
  profile: Profile,
  text: string,
  sensitive: boolean,
  screenLastLine: string | (() => string),
  enter = true,
): Verdict {
  const lastLine = (): string => (typeof screenLastLine === "function" ? screenLastLine() : screenLastLine);
  const sec = profile.security;
  if (sec.mode === "unrestricted") {
    const denied = sensitive ? undefined : matchAny(sec.deny_patterns, text);
    return denied ? { allowed: false, rule: `deny_patterns: /${denied}/` } : { allowed: true };
  }
  if (sensitive) {
    // The screen must END with a secret prompt ("Password:", "Enter passphrase for key ...:"),
    // and not be a shell prompt that happens to contain such a word (host "secret-store").
    const line = lastLine().trimEnd();
    const atPrompt =
      /(pass(word|phrase)|\bpin|token|secret)[^\n]{0,60}:$/i.test(line) &&
      !/[\]#$%>]\s*:?$/.test(line.replace(/:$/, ""));
    return atPrompt
      ? { allowed: true }
      : { allowed: false, rule: `${sec.mode}: sensitive text only at a password prompt` };
  }
  // Typing without Enter would let a command be assembled piece by piece.
  if (!enter) return { allowed: false, rule: `${sec.mode}: text without Enter` };
  // Menu answers: a number, an IP or host:port, a single letter (y, n, q), only when the screen
  // is not at a shell prompt. Not a word: a word could be a command (reboot).
  const atShell = /[#$%>]\s*$/.test(lastLine().trimEnd());
  if (!atShell && /^([0-9][0-9.:]{0,31}|[A-Za-z])?$/.test(text.trim())) return { allowed: true };
  return checkCommand(profile, text);
}
