/**
 * The readonly program table: which programs may run, and with which options, parsed the way
 * each program parses them (getopt: clustered short options `-tI{}`, values attached or in the
 * next word, `--long=value`, `--` ends options). A program or option not in the table is
 * refused. Three kinds of rows:
 *
 * - `any`: no option or argument of the program writes or runs anything (ls, cat, grep, ps):
 *   every word is accepted, `$NAME` expansions and globs included;
 * - `deny`: every option but a named set (git log's `--output`, ss's `-K`); a denied short
 *   letter refuses any cluster holding it, a long option any prefix of it (getopt_long takes
 *   unambiguous prefixes: `--comp` is `--compress-program`). Words that are not literal are
 *   refused: their value could be a denied option;
 * - an allow-list of options (`short`, `valued`, `long`), with a `check` of the operands where
 *   they matter (sed's script, awk's program, find's expression, date's +FORMAT).
 *
 * Wrappers (env, xargs, timeout, nice) check the command they run with the same table; xargs
 * only runs `any` programs, since the words it adds come from its input.
 */
import type { Word } from "./shell-parse.js";

export interface Opt {
  name: string;
  value?: string;
}

export interface Parsed {
  opts: Opt[];
  args: Word[];
}

export interface Spec {
  any?: true;
  /** Denied short letters and long names; `exact`: real options that are prefixes of denied ones. */
  deny?: { short?: string; long?: string[]; exact?: string[] };
  /** Short options without a value. */
  short?: string;
  /** Short options taking a value (attached, or the next word). */
  valued?: string;
  /** Short options with an optional attached value (`-e[eof]`). */
  optional?: string;
  /** Long options: 0 no value, 1 a value (`=v` or the next word), 2 an optional `=v`. */
  long?: Record<string, 0 | 1 | 2>;
  /** `-5` style numeric options (head -5, git log -3). */
  digits?: true;
  /** Options end at the first operand (a verb follows). */
  stopAtOperand?: true;
  /** Operands may be globs (they are file names). */
  globs?: true;
  /** Sub-command specs, picked by the first operand. */
  verbs?: Record<string, Spec>;
  /** Refusal reason for parsed options and operands, or undefined. */
  check?: (p: Parsed) => string | undefined;
}

const ANY: Spec = { any: true };

/** A lookup table without a prototype: `constructor` or `__proto__` is no program. */
function table(rows: Record<string, Spec>): Record<string, Spec> {
  return Object.assign(Object.create(null) as Record<string, Spec>, rows);
}

const has = (p: Parsed, ...names: string[]): boolean => p.opts.some((o) => names.includes(o.name));
const operands = (p: Parsed): string[] => p.args.map((a) => a.value);

/** Reads options per spec; a refusal reason, or the parsed result. */
export function parseOptions(words: Word[], spec: Spec): Parsed | string {
  const opts: Opt[] = [];
  const args: Word[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as Word;
    const a = w.value;
    if (a === "--") {
      args.push(...words.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-" || (spec.digits && /^-[0-9]+$/.test(a))) {
      if (spec.digits && /^-[0-9]+$/.test(a)) {
        opts.push({ name: "-N", value: a.slice(1) });
        continue;
      }
      if (spec.stopAtOperand) {
        args.push(...words.slice(i));
        break;
      }
      args.push(w);
      continue;
    }
    if (w.expanded || w.globbed) return `'${a}' is not literal where an option is read`;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      const kind = spec.long && Object.hasOwn(spec.long, name) ? spec.long[name] : undefined;
      if (kind === undefined) return `option --${name} is not on the readonly table`;
      if (kind === 0 && eq !== -1) return `--${name} takes no value`;
      if (kind === 1 && eq === -1) {
        const next = words[++i];
        if (!next) return `--${name} needs a value`;
        opts.push({ name: `--${name}`, value: next.value });
      } else opts.push({ name: `--${name}`, ...(eq === -1 ? {} : { value: a.slice(eq + 1) }) });
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j] as string;
      if (spec.short?.includes(c)) opts.push({ name: `-${c}` });
      else if (spec.valued?.includes(c) || spec.optional?.includes(c)) {
        let value = a.slice(j + 1);
        if (!value && spec.valued?.includes(c)) {
          const next = words[++i];
          if (!next) return `-${c} needs a value`;
          value = next.value;
        }
        opts.push({ name: `-${c}`, value });
        break;
      } else return `option -${c} is not on the readonly table`;
    }
  }
  return { opts, args };
}

/** A row that lets every option but a denied set through. */
function denied(words: Word[], deny: NonNullable<Spec["deny"]>): string | undefined {
  // Every word, even after `--`: an option taking a value takes `--` as that value, and the
  // words after it are still options (`git log --decorate-refs -- --output=F`).
  for (const w of words) {
    const a = w.value;
    if (!a.startsWith("-") || a === "-" || a === "--") continue;
    if (w.expanded || w.globbed) return `'${a}' is not literal where an option is read`;
    if (a.startsWith("--")) {
      const name = a.slice(2).split("=")[0] as string;
      // getopt_long takes an exact name first, else an unambiguous prefix.
      if (deny.exact?.includes(name)) continue;
      const hit = deny.long?.find((d) => d.startsWith(name));
      if (hit) return `--${hit}`;
    } else {
      const hit = [...a.slice(1)].find((c) => deny.short?.includes(c));
      if (hit) return `-${hit}`;
    }
  }
  return undefined;
}

const LOG_DENY = { long: ["output", "output-directory", "ext-diff", "open-files-in-pager", "exec"] };

/** The options git branch and git tag share for listing refs. */
const REF_LISTING: Record<string, 0 | 1 | 2> = {
  list: 0,
  contains: 1,
  "no-contains": 1,
  merged: 2,
  "no-merged": 2,
  sort: 1,
  format: 1,
  "points-at": 1,
  color: 2,
  "ignore-case": 0,
  column: 2,
  "no-column": 0,
};

/** git sub-commands that only read (with their own options). */
const GIT_VERBS: Record<string, Spec> = table({
  log: { deny: LOG_DENY },
  show: { deny: LOG_DENY },
  diff: { deny: LOG_DENY },
  whatchanged: { deny: LOG_DENY },
  shortlog: { deny: LOG_DENY },
  blame: { deny: LOG_DENY },
  status: { deny: LOG_DENY },
  "rev-parse": { deny: LOG_DENY },
  "rev-list": { deny: LOG_DENY },
  "ls-files": { deny: LOG_DENY },
  "ls-tree": { deny: LOG_DENY },
  "cat-file": { deny: LOG_DENY },
  describe: { deny: LOG_DENY },
  "show-ref": { deny: LOG_DENY },
  "for-each-ref": { deny: LOG_DENY },
  "merge-base": { deny: LOG_DENY },
  "name-rev": { deny: LOG_DENY },
  "count-objects": { deny: LOG_DENY },
  version: ANY,
  grep: { deny: { short: "O", long: [...LOG_DENY.long] } },
  branch: {
    short: "arlv",
    long: {
      ...REF_LISTING,
      all: 0,
      remotes: 0,
      verbose: 0,
      "show-current": 0,
      "no-color": 0,
      abbrev: 2,
    },
    check: (p) => (p.args.length && !has(p, "-l", "--list") ? "git branch NAME creates a branch" : undefined),
  },
  tag: {
    short: "l",
    optional: "n",
    long: REF_LISTING,
    check: (p) => (p.args.length && !has(p, "-l", "--list") ? "git tag NAME creates a tag" : undefined),
  },
  config: {
    short: "lz",
    valued: "f",
    long: {
      list: 0,
      get: 0,
      "get-all": 0,
      "get-regexp": 0,
      "get-urlmatch": 0,
      "show-origin": 0,
      "show-scope": 0,
      "name-only": 0,
      null: 0,
      global: 0,
      system: 0,
      local: 0,
      worktree: 0,
      file: 1,
      blob: 1,
      type: 1,
      default: 1,
      includes: 0,
      "no-includes": 0,
    },
    check: (p) => {
      const args = operands(p);
      if (args[0] === "list") return args.length === 1 ? undefined : "git config list takes no name";
      if (args[0] === "get") return args.length <= 3 ? undefined : "git config get: a name and a pattern";
      if (has(p, "-l", "--list")) return args.length ? "git config --list takes no name" : undefined;
      if (has(p, "--get", "--get-all", "--get-regexp", "--get-urlmatch"))
        return args.length <= 2 ? undefined : "git config --get: a name and a pattern";
      return args.length === 1 && args[0]?.includes(".")
        ? undefined
        : "git config NAME VALUE sets a value (and `git config edit` opens an editor)";
    },
  },
  remote: {
    short: "v",
    long: { verbose: 0 },
    check: (p) => {
      const [verb, ...rest] = operands(p);
      if (verb === undefined) return undefined;
      return (verb === "show" || verb === "get-url") &&
        rest.length <= 1 &&
        !rest.some((r) => r.startsWith("-"))
        ? undefined
        : `git remote ${verb} changes the remotes`;
    },
  },
  reflog: {
    deny: LOG_DENY,
    check: (p) => {
      const verb = p.args[0]?.value;
      return verb !== undefined && ["expire", "delete", "drop", "write"].includes(verb)
        ? `git reflog ${verb} changes the reflog`
        : undefined;
    },
  },
  stash: {
    deny: LOG_DENY,
    // The sub-command right after `stash`: `git stash -- list` is `git stash push -- list`.
    check: (p) =>
      p.args[0]?.value === "list" || p.args[0]?.value === "show"
        ? undefined
        : "git stash (other than list/show) changes the tree",
  },
  worktree: {
    any: true,
    check: (p) =>
      p.args[0]?.value === "list" && !p.args.some((a) => a.expanded)
        ? undefined
        : "git worktree (other than list)",
  },
  "ls-remote": { deny: { long: [...LOG_DENY.long, "upload-pack"] } },
});

const KUBECTL_LONG: Record<string, 0 | 1 | 2> = {
  namespace: 1,
  context: 1,
  cluster: 1,
  output: 1,
  selector: 1,
  "all-namespaces": 0,
  "field-selector": 1,
  watch: 0,
  "watch-only": 0,
  "show-labels": 0,
  "sort-by": 1,
  container: 1,
  follow: 0,
  tail: 1,
  since: 1,
  "since-time": 1,
  previous: 0,
  timestamps: 0,
  "all-containers": 0,
  prefix: 0,
  "no-headers": 0,
  "label-columns": 1,
  "chunk-size": 1,
  raw: 2,
  list: 0,
  client: 0,
  "request-timeout": 1,
  "limit-bytes": 1,
  "max-log-requests": 1,
  "show-kind": 0,
  "ignore-not-found": 0,
  recursive: 0,
  "show-managed-fields": 0,
  subresource: 1,
  template: 1,
  "output-watch-events": 0,
  filename: 1,
  kustomize: 1,
  containers: 0,
  "use-protocol-buffers": 0,
  "sort-by-memory": 0,
  "sort-by-cpu": 0,
  "show-events": 0,
  "pod-running-timeout": 1,
  minify: 0,
  flatten: 0,
  for: 1,
  types: 1,
  "no-headers-events": 0,
  verbs: 1,
  "api-group": 1,
  namespaced: 2,
  "insecure-skip-tls-verify": 0,
};

const KUBECTL_VERBS = new Set([
  "get",
  "describe",
  "logs",
  "top",
  "explain",
  "version",
  "api-resources",
  "api-versions",
  "cluster-info",
  "events",
  "auth",
  "config",
]);

const SYSTEMCTL_READ = new Set([
  "status",
  "show",
  "cat",
  "list-units",
  "list-unit-files",
  "list-timers",
  "list-sockets",
  "list-dependencies",
  "list-jobs",
  "list-machines",
  "list-automounts",
  "list-paths",
  "is-active",
  "is-enabled",
  "is-failed",
  "is-system-running",
  "get-default",
  "show-environment",
]);

const FIND_TESTS_VALUED = new Set(
  (
    "name iname path ipath wholename iwholename type xtype size mtime mmin atime amin ctime cmin newer " +
    "anewer cnewer user group uid gid perm links inum samefile regex iregex regextype lname ilname used " +
    "maxdepth mindepth printf fstype context"
  ).split(" "),
);
const FIND_TESTS_FLAG = new Set(
  (
    "empty readable writable executable nouser nogroup true false depth xdev mount follow noleaf " +
    "ignore_readdir_race noignore_readdir_race daystart print print0 ls prune quit not and a or o d"
  ).split(" "),
);

/** find: paths, then an expression of tests and the printing actions only. */
function checkFind(words: Word[]): string | undefined {
  let i = 0;
  while (i < words.length && /^-[HLP]$/.test((words[i] as Word).value)) i++;
  if (words[i]?.value.startsWith("-O") || words[i]?.value === "-D") return "find -O/-D";
  while (i < words.length && !/^[-(!),]/.test((words[i] as Word).value)) {
    const w = words[i] as Word;
    if (w.expanded) return "find: a path that is not literal";
    if (startsWithGlob(w))
      return `find: the path '${w.value}' starts with a glob (a file named -delete would become a test; write ./${w.value})`;
    i++;
  }
  for (; i < words.length; i++) {
    const w = words[i] as Word;
    if (w.expanded || w.globbed) return `find: '${w.value}' is not literal in the expression`;
    const a = w.value;
    if (a === "(" || a === ")" || a === "!" || a === ",") continue;
    if (!a.startsWith("-")) return `find: '${a}' where a test was expected`;
    const name = a.slice(1);
    if (FIND_TESTS_FLAG.has(name)) continue;
    if (FIND_TESTS_VALUED.has(name) || /^newer[aBcmt][aBcmt]$/.test(name)) {
      if (++i >= words.length) return `find ${a} needs a value`;
      if ((words[i] as Word).expanded) return `find ${a}: a value that is not literal`;
      continue;
    }
    if (name === "exec" || name === "execdir") {
      // `-exec PROGRAM ARGS... {} +` (or `;`) of a program whose every option only reads, as xargs.
      const end = words.findIndex((x, k) => k > i && (x.value === "+" || x.value === ";"));
      if (end === -1) return `find ${a} without its terminating + or ;`;
      const inner = words.slice(i + 1, end);
      const prog = inner[0]?.value.replace(/^.*\//, "") ?? "";
      if (inner.some((x) => x.expanded || x.globbed)) return `find ${a}: a word that is not literal`;
      const why = checkProgram(inner);
      if (why) return why;
      if (!onlyReads(prog)) return `find ${a} ${prog}: only programs whose every option only reads`;
      i = end;
      continue;
    }
    return `find ${a} is not on the readonly table (it may change files or run commands)`;
  }
  return undefined;
}

/** A position in a sed script being read. */
interface SedCursor {
  s: string;
  i: number;
}

/** Blanks, newlines and `;` between commands. */
function sedSeparators(c: SedCursor): void {
  while (c.i < c.s.length && /[\s;]/.test(c.s[c.i] as string)) c.i++;
}

/** A `/regex/` or `\cregexc` address and its I/M flags; false when it never ends. */
function sedRegex(c: SedCursor): boolean {
  const s = c.s;
  let d = s[c.i] as string;
  if (d === "\\") d = s[++c.i] as string;
  if (!d || d === "\n") return false;
  c.i++;
  while (c.i < s.length && s[c.i] !== d) {
    if (s[c.i] === "[" && bracketHolds(s, c.i, d)) return false;
    if (s[c.i] === "\\") c.i++;
    c.i++;
  }
  if (c.i >= s.length) return false;
  c.i++;
  while (/[IM]/.test(s[c.i] ?? "")) c.i++;
  return true;
}

/**
 * Whether the bracket expression opening at `at` holds the delimiter `d` before it closes (or
 * never closes). GNU sed 4.9 reads a delimiter there as a plain character, older and other seds
 * as the regex's end: the two readings split the script differently (the rest of an `s` could
 * become its `e` or `w` flag), so such a script is refused rather than guessed.
 */
function bracketHolds(s: string, at: number, d: string): boolean {
  let j = at + 1;
  if (s[j] === "^") j++;
  if (s[j] === "]") j++;
  while (j < s.length) {
    const ch = s[j] as string;
    if (ch === d) return true;
    if (ch === "]") return false;
    const kind = s[j + 1];
    if (ch === "[" && (kind === ":" || kind === "." || kind === "=")) {
      const close = s.indexOf(`${kind}]`, j + 2);
      if (close === -1) return true;
      if (s.slice(j + 2, close).includes(d)) return true;
      j = close + 2;
      continue;
    }
    j++;
  }
  return true;
}

/** One address (a line number or `first~step`, `$`, a regex), or none; false when it never ends. */
function sedAddress(c: SedCursor): boolean {
  const s = c.s;
  if (/[0-9]/.test(s[c.i] ?? "")) {
    while (/[0-9~]/.test(s[c.i] ?? "")) c.i++;
    return true;
  }
  if (s[c.i] === "$") {
    c.i++;
    return true;
  }
  if (s[c.i] === "/" || s[c.i] === "\\") return sedRegex(c);
  return true;
}

/** An address or a range (`1,5`, `/a/,+3`, `1,~4`), then spaces and `!`; false when one never ends. */
function sedAddresses(c: SedCursor): boolean {
  if (!sedAddress(c)) return false;
  if (c.s[c.i] === ",") {
    c.i++;
    if (c.s[c.i] === "+" || c.s[c.i] === "~") c.i++;
    if (!sedAddress(c)) return false;
  }
  while (c.s[c.i] === " " || c.s[c.i] === "!") c.i++;
  return true;
}

/** s/// and y///: a delimiter other than \ or a newline, two more of it, and s's harmless flags. */
function sedSubstitution(c: SedCursor, cmd: "s" | "y"): string | undefined {
  const s = c.s;
  const d = s[c.i];
  if (!d || d === "\\" || d === "\n") return `a bad ${cmd} delimiter`;
  let parts = 0;
  c.i++;
  while (c.i < s.length && parts < 2) {
    if (cmd === "s" && parts === 0 && s[c.i] === "[" && bracketHolds(s, c.i, d))
      return "a delimiter inside a bracket expression (sed versions end the regex at different places)";
    if (s[c.i] === "\\") c.i++;
    else if (s[c.i] === d) parts++;
    c.i++;
  }
  if (parts < 2) return `an unterminated ${cmd} command`;
  if (cmd === "s") {
    const flags = /^[gpiImM0-9]*/.exec(s.slice(c.i))?.[0] ?? "";
    c.i += flags.length;
  }
  return undefined;
}

/** What follows a command's letter: nothing, q's exit code, or s/y's parts; any other command is refused. */
function sedCommand(c: SedCursor, cmd: string): string | undefined {
  if ("pPdDnNgGhHxzl=F".includes(cmd)) return undefined;
  if (cmd === "q" || cmd === "Q") {
    while (/[0-9 ]/.test(c.s[c.i] ?? "")) c.i++;
    return undefined;
  }
  if (cmd === "s" || cmd === "y") return sedSubstitution(c, cmd);
  return `the sed command '${cmd}' (only p, d, s, y, q, n, = and friends; no w, r, e, a, i, c)`;
}

/** A command ends at `;`, a newline or `}` (blanks before it allowed), or at the end of the script. */
function sedCommandEnd(c: SedCursor): string | undefined {
  const s = c.s;
  const rest = /^[ \t]*/.exec(s.slice(c.i))?.[0] ?? "";
  c.i += rest.length;
  if (c.i < s.length && !/[;\n}]/.test(s[c.i] as string))
    return `'${s.slice(c.i, c.i + 8)}' after a sed command`;
  return undefined;
}

/**
 * sed scripts are read with a small strict grammar: addresses, then one of the commands that
 * only print or edit the pattern space. No w/W/r/R/e, no s///e or s///w, no a/i/c text, no labels.
 */
export function sedScriptSafe(script: string): string | undefined {
  const c: SedCursor = { s: script, i: 0 };
  let depth = 0;
  sedSeparators(c);
  while (c.i < script.length) {
    if (script[c.i] === "}") {
      if (--depth < 0) return "an unbalanced }";
      c.i++;
      sedSeparators(c);
      continue;
    }
    if (!sedAddresses(c)) return "an unterminated address";
    const cmd = script[c.i++];
    if (cmd === undefined) return "an address without a command";
    if (cmd === "{") {
      depth++;
      sedSeparators(c);
      continue;
    }
    const why = sedCommand(c, cmd) ?? sedCommandEnd(c);
    if (why) return why;
    sedSeparators(c);
  }
  return depth === 0 ? undefined : "an unbalanced {";
}

function checkSed(p: Parsed): string | undefined {
  if (p.args.some((a) => a.expanded)) return "sed: an operand that is not literal";
  const scripts = p.opts
    .filter((o) => o.name === "-e" || o.name === "--expression")
    .map((o) => o.value ?? "");
  if (!scripts.length) {
    const first = p.args[0];
    if (!first) return "sed without a script";
    if (first.globbed) return "sed: a glob where the script is read";
    scripts.push(first.value);
  }
  for (const sc of scripts) {
    const why = sedScriptSafe(sc);
    if (why) return `sed script: ${why}`;
  }
  return undefined;
}

/** awk programs: no system(), pipes, redirection, getline or @load/@include (coarse on purpose). */
function checkAwk(p: Parsed): string | undefined {
  if (p.args.some((a) => a.expanded)) return "awk: an operand that is not literal";
  const programs = p.opts.filter((o) => o.name === "-e" || o.name === "--source").map((o) => o.value ?? "");
  if (!programs.length) {
    const first = p.args[0];
    if (!first) return "awk without a program";
    if (first.globbed) return "awk: a glob where the program is read";
    programs.push(first.value);
  }
  for (const prog of programs) {
    if (/system|getline|[|>@]|\bclose\b|\bfflush\b/.test(prog))
      return "awk: system(), getline, |, > or @ (write a comparison as 100 < $3)";
  }
  return undefined;
}

/** The program table (null prototype: `constructor` is not a program). */
const TABLE: Record<string, Spec> = {
  // Nothing any of these accept writes a file or runs a command.
  ...Object.fromEntries(
    (
      "ls cat head tail wc cut tr nl column stat du df free uptime uname whoami id groups ps pgrep pwd echo " +
      "printenv which type true false basename dirname readlink realpath md5sum sha1sum sha256sum sha512sum " +
      "cksum base64 grep egrep fgrep zgrep zcat bzcat xzcat jq vmstat iostat mpstat lsof netstat w who last " +
      "getent nproc lscpu lsblk lsmem findmnt tac rev fold paste join comm expand unexpand diff cmp strings " +
      "od hexdump seq sleep cd dig host getconf locale"
    )
      .split(" ")
      .map((n) => [n, ANY]),
  ),
  printf: {
    any: true,
    check: (p: Parsed) => {
      if (p.args[0]?.expanded || p.args[0]?.value.startsWith("-v")) return "printf -v assigns a variable";
      // zsh's printf evaluates a numeric argument as arithmetic: `name[$(cmd)]` runs cmd.
      return p.args.slice(1).some((a) => /[[`]|\$\(/.test(a.value))
        ? "printf: an argument with [, $( or ` (zsh evaluates it)"
        : undefined;
    },
  },
  test: {
    any: true,
    check: (p: Parsed) => {
      const a = operands(p);
      if (p.args.some((x) => x.expanded)) return "test: an expansion (its value could be an operator)";
      if (a.some((x) => x === "-v" || x === "-R")) return "test -v evaluates a name";
      for (let i = 0; i < a.length; i++) {
        if (
          /^-(eq|ne|lt|le|gt|ge)$/.test(a[i] as string) &&
          !(/^-?[0-9]+$/.test(a[i - 1] ?? "") && /^-?[0-9]+$/.test(a[i + 1] ?? ""))
        )
          return "test: a numeric comparison of something other than two numbers (some shells evaluate it)";
      }
      return undefined;
    },
  },
  command: {
    short: "vVp",
    check: (p: Parsed) => (has(p, "-v", "-V") ? undefined : "command without -v/-V runs the command"),
  },
  crontab: {
    short: "l",
    valued: "u",
    check: (p: Parsed) =>
      has(p, "-l") && !p.args.length ? undefined : "crontab without -l (or with a file) installs",
  },
  hostnamectl: { any: true, check: (p: Parsed) => statusOnly("hostnamectl", p) },
  timedatectl: { any: true, check: (p: Parsed) => statusOnly("timedatectl", p) },
  top: { any: true, check: (p: Parsed) => (p.args.some(batchFlag) ? undefined : "top without -b (batch)") },
  ss: { deny: { short: "KD", long: ["kill", "diag"] } },
  journalctl: {
    deny: {
      long: [
        "vacuum-size",
        "vacuum-time",
        "vacuum-files",
        "rotate",
        "flush",
        "sync",
        "relinquish-var",
        "smart-relinquish-var",
        "setup-keys",
        "update-catalog",
        "cursor-file",
      ],
      exact: ["cursor"],
    },
  },
  sort: {
    short: "bdfghiMnRrsuzcCmV",
    valued: "ktS",
    globs: true,
    long: {
      key: 1,
      "field-separator": 1,
      "numeric-sort": 0,
      reverse: 0,
      unique: 0,
      "human-numeric-sort": 0,
      "general-numeric-sort": 0,
      "month-sort": 0,
      "version-sort": 0,
      "ignore-case": 0,
      "ignore-leading-blanks": 0,
      "ignore-nonprinting": 0,
      "dictionary-order": 0,
      stable: 0,
      check: 2,
      merge: 0,
      "zero-terminated": 0,
      "buffer-size": 1,
      parallel: 1,
      sort: 1,
      "random-sort": 0,
      debug: 0,
    },
  },
  uniq: {
    short: "cdDiuz",
    valued: "fsw",
    digits: true,
    long: {
      count: 0,
      repeated: 0,
      "all-repeated": 2,
      "ignore-case": 0,
      unique: 0,
      "skip-fields": 1,
      "skip-chars": 1,
      "check-chars": 1,
      "zero-terminated": 0,
      group: 2,
    },
    check: (p: Parsed) =>
      p.args.length > 1 || p.args.some((a) => a.expanded || a.globbed)
        ? "uniq INPUT OUTPUT writes a file"
        : undefined,
  },
  file: {
    short: "bcEhiklLNnprsSzZ0",
    valued: "efFmP",
    globs: true,
    long: {
      brief: 0,
      mime: 0,
      "mime-type": 0,
      "mime-encoding": 0,
      dereference: 0,
      "no-dereference": 0,
      "keep-going": 0,
      "special-files": 0,
      uncompress: 0,
      raw: 0,
      "files-from": 1,
      separator: 1,
      "magic-file": 1,
      extension: 0,
      apple: 0,
      "no-pad": 0,
      print0: 0,
      "preserve-date": 0,
      exclude: 1,
      "exclude-quiet": 1,
    },
  },
  date: {
    short: "uR",
    valued: "dfr",
    optional: "I",
    long: {
      date: 1,
      file: 1,
      reference: 1,
      utc: 0,
      universal: 0,
      "iso-8601": 2,
      "rfc-3339": 1,
      "rfc-email": 0,
      "rfc-2822": 0,
      debug: 0,
      resolution: 0,
    },
    check: (p: Parsed) =>
      p.args.every((a) => a.value.startsWith("+") && !a.expanded)
        ? undefined
        : "date MMDDhhmm sets the clock",
  },
  hostname: {
    short: "aAdfiIsy",
    long: {
      fqdn: 0,
      long: 0,
      short: 0,
      domain: 0,
      "ip-address": 0,
      "all-ip-addresses": 0,
      "all-fqdns": 0,
      alias: 0,
      yp: 0,
      nis: 0,
    },
    check: (p: Parsed) => (p.args.length ? "hostname NAME changes the host name" : undefined),
  },
  dmesg: {
    short: "TtHkxwLreSuPdF",
    valued: "lf",
    long: {
      ctime: 0,
      human: 0,
      kernel: 0,
      decode: 0,
      follow: 0,
      "follow-new": 0,
      color: 2,
      reltime: 0,
      "show-delta": 0,
      notime: 0,
      syslog: 0,
      userspace: 0,
      level: 1,
      facility: 1,
      "time-format": 1,
      since: 1,
      until: 1,
      nopager: 0,
      raw: 0,
      json: 0,
    },
  },
  ip: {
    any: true,
    check: (p: Parsed) => {
      if (p.args.some((a) => a.expanded || a.globbed)) return "ip: a word that is not literal";
      const bad = p.args.find(
        (a) =>
          a.value.startsWith("-") &&
          !/^-(4|6|0|s|d|j|p|o|c|h|br|brief|json|pretty|details|stats|statistics|oneline|human|color(=\w+)?)$/.test(
            a.value,
          ),
      );
      if (bad)
        return `ip ${bad.value} is not on the readonly table (-batch and -force run commands from a file)`;
      const args = operands(p).filter((a) => !a.startsWith("-"));
      if (
        args.some((a) =>
          /^(add|del|delete|set|change|replace|flush|append|prepend|exec|save|restore)$/.test(a),
        )
      )
        return "ip changes the network";
      const object = args[0];
      if (object === undefined) return undefined;
      if (
        !/^(a|addr|address|l|link|r|route|n|neigh|neighbour|ru|rule|maddr|maddress|-?br|brief)$/.test(object)
      )
        return `ip ${object} is not on the readonly table`;
      const verb = args[1];
      // Whole verbs only: iproute2 takes prefixes, and for link tries `set` before `show` (`ip link s`).
      return verb === undefined || /^(show|list|ls|lst|get|dev)$/.test(verb)
        ? undefined
        : `ip ${object} ${verb} is not on the readonly table`;
    },
  },
  find: {},
  sed: {
    short: "nEsuzrb",
    valued: "el",
    globs: true,
    long: {
      quiet: 0,
      silent: 0,
      expression: 1,
      "regexp-extended": 0,
      separate: 0,
      unbuffered: 0,
      "null-data": 0,
      "line-length": 1,
      posix: 0,
      debug: 0,
      sandbox: 0,
      binary: 0,
    },
    check: checkSed,
  },
  awk: { valued: "Fv", globs: true, long: { "field-separator": 1, assign: 1 }, check: checkAwk },
  gawk: { valued: "Fv", globs: true, long: { "field-separator": 1, assign: 1 }, check: checkAwk },
  mawk: { valued: "Fv", globs: true, check: checkAwk },
  kubectl: {
    short: "AwfpRh",
    valued: "nolcL",
    long: KUBECTL_LONG,
    check: (p: Parsed) => {
      const [verb, sub] = operands(p);
      if (!verb || !KUBECTL_VERBS.has(verb)) return `kubectl ${verb ?? ""} is not read-only`;
      if (p.args.some((a) => a.expanded)) return "kubectl: an operand that is not literal";
      if (verb === "cluster-info" && sub === "dump") return "kubectl cluster-info dump writes files";
      if (verb === "auth" && sub !== "can-i" && sub !== "whoami") return `kubectl auth ${sub ?? ""}`;
      if (
        verb === "config" &&
        !["view", "get-contexts", "current-context", "get-clusters", "get-users"].includes(sub ?? "")
      )
        return "kubectl config changes configuration";
      if (p.args.some((a) => a.expanded || a.globbed)) return "kubectl: an operand that is not literal";
      return undefined;
    },
  },
  git: {
    short: "pP",
    valued: "C",
    stopAtOperand: true,
    long: {
      "no-pager": 0,
      paginate: 0,
      "no-optional-locks": 0,
      "literal-pathspecs": 0,
      "glob-pathspecs": 0,
      "noglob-pathspecs": 0,
      "icase-pathspecs": 0,
      "no-replace-objects": 0,
      bare: 0,
      "git-dir": 1,
      "work-tree": 1,
      version: 0,
    },
    verbs: GIT_VERBS,
  },
  docker: {
    valued: "Hc",
    stopAtOperand: true,
    long: { host: 1, context: 1 },
    verbs: table({
      ...Object.fromEntries(
        [
          "ps",
          "logs",
          "inspect",
          "images",
          "stats",
          "top",
          "version",
          "info",
          "port",
          "history",
          "events",
        ].map((v) => [v, ANY]),
      ),
      ...Object.fromEntries(
        ["container", "image", "network", "volume", "compose"].map((v) => [
          v,
          {
            any: true,
            check: (p: Parsed) =>
              // Right after the group: cobra would read `-x rm` before it as a flag and its value.
              /^(ls|list|ps|inspect|logs|top|port|stats|history|images|version)$/.test(
                p.args[0]?.value ?? "",
              ) && !p.args[0]?.expanded
                ? undefined
                : `docker ${v}: only listing and inspecting`,
          },
        ]),
      ),
    }),
  },
  systemctl: {
    short: "alqrfh",
    valued: "tpPnoHMs",
    long: {
      "no-pager": 0,
      full: 0,
      all: 0,
      type: 1,
      state: 1,
      property: 1,
      lines: 1,
      output: 1,
      user: 0,
      system: 0,
      plain: 0,
      "no-legend": 0,
      legend: 1,
      value: 0,
      recursive: 0,
      reverse: 0,
      after: 0,
      before: 0,
      failed: 0,
      "show-types": 0,
      quiet: 0,
      host: 1,
      machine: 1,
      "with-dependencies": 0,
      "no-ask-password": 0,
      timestamp: 1,
    },
    check: (p: Parsed) => {
      const verb = operands(p)[0] ?? "list-units";
      return SYSTEMCTL_READ.has(verb) ? undefined : `systemctl ${verb} is not read-only`;
    },
  },
  xargs: {
    short: "0rtx",
    valued: "IdLnPsaE",
    optional: "eil",
    stopAtOperand: true,
    long: {
      null: 0,
      "no-run-if-empty": 0,
      verbose: 0,
      exit: 0,
      "max-args": 1,
      "max-lines": 2,
      "max-procs": 1,
      delimiter: 1,
      replace: 2,
      "max-chars": 1,
      "arg-file": 1,
      eof: 2,
      "show-limits": 0,
    },
  },
  env: {
    short: "i0v",
    valued: "uC",
    stopAtOperand: true,
    long: { "ignore-environment": 0, null: 0, unset: 1, chdir: 1, debug: 0 },
  },
  timeout: {
    short: "v",
    valued: "sk",
    stopAtOperand: true,
    long: { "preserve-status": 0, foreground: 0, "kill-after": 1, signal: 1, verbose: 0 },
  },
  nice: { valued: "n", stopAtOperand: true, long: { adjustment: 1 } },
};

export const PROGRAMS = table(TABLE);

/** Variables a command may be given inline (`LC_ALL=C sort`); others can make it run something else. */
export const SAFE_VARS = /^(LC_[A-Z]+|LANG|LANGUAGE|TZ|COLUMNS|LINES|NO_COLOR|TERM)$/;

/** A system program path (`/usr/bin/ls`) stands for its name; other paths are refused. */
const SYSTEM_PATH = /^\/(usr\/)?(local\/)?s?bin\/[^/]+$/;

/** hostnamectl/timedatectl: nothing, or status/show (their other verbs set things). */
function statusOnly(name: string, p: Parsed): string | undefined {
  if (p.args.some((a) => a.expanded || a.globbed)) return `${name}: a word that is not literal`;
  if (p.args.some((a) => /^-[HM]|^--(host|machine)/.test(a.value))) return `${name} -H/-M`;
  const verb = p.args.find((a) => !a.value.startsWith("-"))?.value;
  return verb === undefined || verb === "status" || verb === "show"
    ? undefined
    : `${name} ${verb} changes the system`;
}

/** top's -b as a flag: in a cluster before any option that takes a value (`-bn1`, not `-ubin`). */
function batchFlag(w: Word): boolean {
  if (w.expanded || !/^-[^-]/.test(w.value)) return false;
  for (const c of w.value.slice(1)) {
    if (c === "b") return true;
    if (!"cHiSs1".includes(c)) return false;
  }
  return false;
}

/** A program no word given to it can make write or run anything (xargs and find -exec may add words). */
function onlyReads(name: string): boolean {
  const spec = Object.hasOwn(PROGRAMS, name) ? PROGRAMS[name] : undefined;
  return Boolean(spec?.any && !spec.check);
}

/** A glob at the start of a word may match a file named like an option (`-delete`). */
function startsWithGlob(w: Word): boolean {
  return w.globbed && /^[*?[]/.test(w.value);
}

/** Why a simple command's words are not read-only, or undefined. */
export function checkProgram(words: Word[]): string | undefined {
  const first = words[0];
  if (!first) return undefined;
  if (first.expanded || first.globbed) return `the command name '${first.value}' is not literal`;
  if (first.value.includes("/") && !SYSTEM_PATH.test(first.value))
    return `'${first.value}' is not a system program path`;
  const name = first.value.replace(/^.*\//, "");
  const spec = Object.hasOwn(PROGRAMS, name) ? PROGRAMS[name] : undefined;
  if (!spec) return `'${name}' is not on the readonly program table`;
  return checkSpec(name, spec, words.slice(1));
}

/**
 * kubectl (cobra) finds its sub-command before it knows the flags: an unknown `-f` ahead of the
 * verb takes the next word as its value, so `kubectl -f get delete` runs delete. Only the root
 * flags with a value may come first, and a sub-verb (config view) must follow its verb at once.
 */
function checkKubectl(args: Word[]): string | undefined {
  let i = 0;
  while (i < args.length && args[i]?.value.startsWith("-")) {
    const a = (args[i] as Word).value;
    if (/^(-n|--namespace|--context)$/.test(a)) i += 2;
    else if (/^(-n.+|--namespace=.+|--context=.+)$/.test(a)) i += 1;
    else return `kubectl: '${a}' before the verb (put options after it)`;
  }
  const verb = args[i]?.value;
  if (verb && ["config", "auth", "cluster-info"].includes(verb) && args[i + 1]?.value.startsWith("-"))
    return `kubectl ${verb}: an option before the sub-command`;
  return undefined;
}

function checkSpec(name: string, spec: Spec, args: Word[]): string | undefined {
  if (name === "find") return checkFind(args);
  if (name === "kubectl") {
    const why = checkKubectl(args);
    if (why) return why;
  }
  if (spec.any) {
    return spec.check?.({ opts: [], args });
  }
  if (spec.deny) return checkDenied(name, spec, spec.deny, args);
  // Here a word's value decides what the program does: an expansion could be any option.
  const expanded = args.find((a) => a.expanded);
  if (expanded) return `${name}: '${expanded.value}' is not literal (its value could be an option)`;
  const parsed = parseOptions(args, spec);
  if (typeof parsed === "string") return `${name}: ${parsed}`;
  if (!spec.globs && !spec.stopAtOperand && parsed.args.some((a) => a.globbed))
    return `${name}: a glob where ${name} reads more than file names`;
  const leading = parsed.args.find(startsWithGlob);
  if (leading && !spec.stopAtOperand)
    return `${name}: '${leading.value}' starts with a glob (a file named like an option would become one; write ./${leading.value})`;
  if (spec.verbs) return checkVerb(name, spec, spec.verbs, parsed);
  const why = spec.check?.(parsed);
  if (why) return why;
  return checkOperands(name, spec, parsed);
}

/** A program read by its deny list: no denied option, and no word that is not literal. */
function checkDenied(
  name: string,
  spec: Spec,
  deny: NonNullable<Spec["deny"]>,
  args: Word[],
): string | undefined {
  const hit = denied(args, deny);
  if (hit) return `${name} ${hit} is not on the readonly table (it writes or runs something)`;
  if (args.some((a) => a.expanded)) return `${name}: a word that is not literal`;
  return spec.check?.({ opts: [], args });
}

/** The first operand picks the sub-command's spec, which reads the words after it. */
function checkVerb(
  name: string,
  spec: Spec,
  verbs: Record<string, Spec>,
  parsed: Parsed,
): string | undefined {
  const verb = parsed.args[0];
  if (!verb) return spec.check?.(parsed);
  if (verb.expanded || verb.globbed) return `${name}: the sub-command is not literal`;
  const sub = Object.hasOwn(verbs, verb.value) ? verbs[verb.value] : undefined;
  if (!sub) return `${name} ${verb.value} is not on the readonly table`;
  return checkSpec(`${name} ${verb.value}`, sub, parsed.args.slice(1));
}

/**
 * The operands after the options: xargs, env, timeout and nice run a command given there, which
 * is checked as one; any other program that stops at its first operand may not be given a glob.
 */
function checkOperands(name: string, spec: Spec, parsed: Parsed): string | undefined {
  if (name === "xargs") return checkXargs(parsed);
  if (name === "env") return checkEnv(parsed);
  if (name === "timeout") return parsed.args.length < 2 ? undefined : checkProgram(parsed.args.slice(1));
  if (name === "nice") return checkProgram(parsed.args);
  if (spec.stopAtOperand && parsed.args.some((a) => a.globbed)) return `${name}: a glob`;
  return undefined;
}

function checkXargs(parsed: Parsed): string | undefined {
  if (has(parsed, "-a", "--arg-file") && parsed.args.length === 0) return undefined;
  const cmd = parsed.args[0];
  if (!cmd) return undefined;
  // BusyBox xargs replaces the string in the command name too (`xargs -I cat cat ...` runs sh).
  const replace = parsed.opts.find((o) => o.name === "-I" || o.name === "-i" || o.name === "--replace");
  if (replace && cmd.value.includes(replace.value || "{}"))
    return "xargs -I: the replace string in the command name";
  const inner = checkProgram(parsed.args);
  if (inner) return inner;
  const innerName = cmd.value.replace(/^.*\//, "");
  return onlyReads(innerName)
    ? undefined
    : `xargs ${innerName}: xargs adds words from its input, so only programs whose every option only reads may follow`;
}

/** env: inline variables from SAFE_VARS only, then the command it runs. */
function checkEnv(parsed: Parsed): string | undefined {
  let rest = parsed.args;
  while (rest[0] && /^[A-Za-z_][A-Za-z0-9_]*=/.test(rest[0].value)) {
    const v = rest[0].value.split("=")[0] as string;
    if (!SAFE_VARS.test(v)) return `env ${v}= can make a command run another program`;
    rest = rest.slice(1);
  }
  return checkProgram(rest);
}
