import { readFileSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import SSHConfig from "ssh-config";
import { globSync } from "tinyglobby";
import { errorMessage } from "../errors.js";

/**
 * Lists the concrete `Host` aliases of the user's ssh config (issue 18: each becomes a profile),
 * with where each is written, and the files and directories to watch for changes. It only reads
 * files; what an alias resolves to is `ssh -G`'s business elsewhere.
 *
 * It follows OpenSSH (ssh_config(5), readconf.c): Include lines anywhere are read in place, up to
 * 16 levels deep; a relative Include is under ~/.ssh; a pattern that matches nothing is skipped.
 *
 * The file is cut into lines here and only `Host` and `Include` lines are handed to the
 * `ssh-config` package, one line at a time, to split their words (quotes, escapes, trailing
 * comments). Parsing a whole file at once was tried and is not usable for this: the package
 * carries no line numbers, reads a keyword alone on its line together with the next line
 * (`Host` then `foo bar` becomes one directive "Host\nfoo"), drops a line that starts with `=`
 * so later lines would be numbered wrong, and throws for one bad line anywhere (a ProxyCommand
 * with an open quote) so the whole file would yield nothing. Line by line, every alias has its
 * exact line, and a line it cannot read is a problem at that line.
 */

export interface SshConfigHost {
  alias: string;
  file: string;
  line: number;
}

export interface SshConfigProblem {
  file: string;
  line?: number;
  message: string;
}

export interface SshConfigRead {
  /** Concrete aliases in order of first appearance (first occurrence's file:line). */
  hosts: SshConfigHost[];
  /** Every config file read (absolute), the top file first, for watching. */
  files: string[];
  /** Directories an Include pattern looks in (absolute), so a new file there can be noticed. */
  dirs: string[];
  /** Every Include pattern, absolute (a plain path is its own pattern): a new file matching one is read. */
  patterns: string[];
  problems: SshConfigProblem[];
}

/** OpenSSH's READCONF_MAX_DEPTH: the top file is depth 0, a file it includes depth 1, ... */
const MAX_INCLUDE_DEPTH = 16;

interface Where {
  file: string;
  line: number;
}

interface Reading {
  home: string;
  hosts: SshConfigHost[];
  /** Aliases already listed. Exact: ssh matches a Host pattern case-sensitively (`Host Web` is not `web`). */
  aliases: Set<string>;
  files: string[];
  dirs: string[];
  patterns: string[];
  problems: SshConfigProblem[];
  /** Real paths of the files being read, the top one first, to notice an Include loop. */
  stack: string[];
}

/** Reads `path` (an absolute ssh config file) and every file it Includes. `home` is $HOME. */
export function readSshConfig(path: string, home: string): SshConfigRead {
  const reading: Reading = {
    home,
    hosts: [],
    aliases: new Set(),
    files: [path],
    dirs: [],
    patterns: [],
    problems: [],
    stack: [],
  };
  readFile(reading, path, 0, undefined);
  return {
    hosts: reading.hosts,
    files: reading.files,
    dirs: reading.dirs,
    patterns: reading.patterns,
    problems: reading.problems,
  };
}

/** Reads one file; `from` is the Include line that names it (none for the top file). */
function readFile(reading: Reading, file: string, depth: number, from: Where | undefined): void {
  const text = readText(reading, file, from);
  if (text === undefined) return;
  if (!reading.files.includes(file)) reading.files.push(file);
  reading.stack.push(realPath(file));
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    readLine(reading, (lines[index] ?? "").replace(/\r$/, ""), { file, line: index + 1 }, depth);
  }
  reading.stack.pop();
}

function readText(reading: Reading, file: string, from: Where | undefined): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // OpenSSH reads a missing user config as empty; a file gone between glob and open is gone.
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    const orRemove = from ? ", or remove the Include that names it" : "";
    const message =
      code === "EISDIR"
        ? `${file} is a directory, not an ssh config file: ssh reads nothing from it. ${from ? `Point the Include at a file (or a pattern such as ${join(file, "*")}), or remove it` : "Put a file there instead"}.`
        : code === "EACCES"
          ? `Cannot read ${file}: permission denied. Make it readable for this user (chmod u+r)${orRemove}.`
          : `Cannot read ${file}: ${errorMessage(err)}. Fix the file${orRemove}.`;
    reading.problems.push(from ? { ...from, message } : { file, message });
    return undefined;
  }
}

function realPath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/** The keyword of a line as ssh splits it: the first word, ended by a space, a tab or `=`. */
const KEYWORD = /^[ \t]*([^ \t=]+)[ \t]*=?[ \t]*/;

function readLine(reading: Reading, text: string, where: Where, depth: number): void {
  const match = KEYWORD.exec(text);
  const keyword = match?.[1]?.toLowerCase();
  if (!match || (keyword !== "host" && keyword !== "include")) return;
  const rest = text.slice(match[0].length);
  if (rest === "" || rest.startsWith("#")) {
    reading.problems.push({
      ...where,
      message: `${match[1]} without an argument: ssh stops at this line ("no argument after keyword"). Add ${keyword === "host" ? "a name" : "a file"} or remove the line.`,
    });
    return;
  }
  const words = splitWords(reading, text, where);
  if (!words) return;
  if (keyword === "host") {
    for (const word of words) addHost(reading, word, where);
  } else {
    for (const word of words) include(reading, word, where, depth);
  }
}

/** The words after the keyword, unquoted; undefined (and a problem) when the line cannot be split. */
function splitWords(reading: Reading, text: string, where: Where): string[] | undefined {
  try {
    const directive = SSHConfig.parse(text).find((node) => node.type === SSHConfig.DIRECTIVE);
    if (!directive || !("value" in directive)) throw new Error("no directive found");
    const value = directive.value;
    return typeof value === "string" ? [value] : value.map((word) => word.val);
  } catch (err) {
    reading.problems.push({
      ...where,
      message: `Cannot split this line into words (${errorMessage(err)}). Check its quotes and backslashes: ssh reads the same line.`,
    });
    return undefined;
  }
}

/**
 * A concrete name: not a pattern (`*`, `?`), not a negation (`!`), no `%` token, no whitespace
 * (a quoted "a b" matches no host ssh is asked for), and no quote left over from single quotes,
 * which ssh splits on but the parser does not.
 */
function isConcrete(word: string): boolean {
  return word !== "" && !word.startsWith("!") && !/[*?%'"\s]/.test(word);
}

function addHost(reading: Reading, word: string, where: Where): void {
  if (!isConcrete(word)) return;
  if (reading.aliases.has(word)) return;
  reading.aliases.add(word);
  reading.hosts.push({ alias: word, ...where });
}

function include(reading: Reading, pattern: string, where: Where, depth: number): void {
  const files = expandInclude(reading, pattern, where);
  for (const file of files) {
    if (reading.stack.includes(realPath(file))) {
      reading.problems.push({
        ...where,
        message: `Include loop: ${where.file} includes ${file}, already being read. ssh stops with "Too many recursive configuration includes": remove the Include that closes the loop.`,
      });
    } else if (depth + 1 > MAX_INCLUDE_DEPTH) {
      reading.problems.push({
        ...where,
        message: `Include of ${file} is nested more than ${MAX_INCLUDE_DEPTH} levels deep: ssh stops with "Too many recursive configuration includes". Include that file from a shallower level.`,
      });
    } else {
      readFile(reading, file, depth + 1, where);
    }
  }
}

/** glob(3)'s special characters: a component with none of them is a plain name. */
const GLOB_MAGIC = /[*?[]/;

/**
 * The files an Include pattern names, as OpenSSH's glob(3) call finds them: `~` is home, a
 * relative pattern is under ~/.ssh, matches are sorted and a leading dot is matched only by a
 * leading dot. Records the directory the pattern looks in.
 */
function expandInclude(reading: Reading, pattern: string, where: Where): string[] {
  let base: string;
  let rest: string;
  if (pattern === "~" || pattern.startsWith("~/")) {
    base = reading.home;
    rest = pattern.slice(2);
  } else if (pattern.startsWith("~")) {
    reading.problems.push({
      ...where,
      message: `Include ${pattern} names another user's home, which is not followed here. Write the path out in full (or as ~/...) to have its hosts listed.`,
    });
    return [];
  } else if (pattern.startsWith("/")) {
    base = "/";
    rest = pattern.slice(1);
  } else {
    base = join(reading.home, ".ssh");
    rest = pattern;
  }
  // Plain leading components become the directory to search, so characters such as ( { ! in
  // them are never read as pattern syntax.
  const components = rest.split("/").filter((component) => component !== "");
  while (components.length > 0 && !GLOB_MAGIC.test(components[0] ?? "")) {
    base = join(base, components.shift() ?? "");
  }
  if (components.length === 0) {
    addDir(reading, dirname(base));
    if (!reading.patterns.includes(base)) reading.patterns.push(base);
    return [base];
  }
  addDir(reading, base);
  const absolute = join(base, ...components);
  if (!reading.patterns.includes(absolute)) reading.patterns.push(absolute);
  try {
    return globSync(components.map(escapeForGlob).join("/"), {
      cwd: base,
      absolute: true,
      onlyFiles: true,
      dot: false,
      expandDirectories: false,
      braceExpansion: false,
      extglob: false,
      globstar: false,
    }).sort();
  } catch (err) {
    reading.problems.push({
      ...where,
      message: `Cannot expand Include ${pattern}: ${errorMessage(err)}. Check the pattern and the directories it looks in.`,
    });
    return [];
  }
}

/** glob(3) knows only * ? [...] and backslash; tinyglobby would also read these. */
function escapeForGlob(component: string): string {
  return component.replace(/[(){}!+@|]/g, "\\$&");
}

function addDir(reading: Reading, dir: string): void {
  if (!reading.dirs.includes(dir)) reading.dirs.push(dir);
}
