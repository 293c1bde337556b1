/**
 * The readonly policy reads a command line the way the shell will, with a maintained grammar
 * (tree-sitter-bash, run as WebAssembly by web-tree-sitter: sub-millisecond per line), never a
 * word splitter. It accepts only what it fully understands and refuses everything else:
 *
 * - structure: simple commands, pipelines (`|`), lists (`;` `&&` `||` `&`), `!` negation;
 *   redirections only to /dev/null, between stdout and stderr (`2>&1`), or from a file (`<`);
 * - words: literal after quote removal (unquoted text with backslash escapes, '...', "...").
 *   A plain `$NAME`/`${NAME}` is noted as an expansion (allowed by the program table only where
 *   any value is harmless); every other expansion (`${X:-..}`, `${!V}`, `$(..)`, `$((..))`,
 *   `$'..'`, `$".."`, backticks, brace expansion, `!` history) refuses the line;
 * - globs (`*`, `?`, `[`) are noted: the program table decides where they may be.
 *
 * The grammar is bash's. Other POSIX shells of the posix family (dash, zsh, mksh, ksh93, ash)
 * read the accepted subset the same way; where they add syntax (zsh glob qualifiers, ksh
 * `${ ..; }`) it needs characters this reader refuses. fish and csh get a stricter character
 * rule first (see familyRule), since their quoting differs from bash's.
 */
import { createRequire } from "node:module";
import { Language, Parser, type Node } from "web-tree-sitter";

export interface Word {
  /** The word after quote removal (expansions kept as written). */
  value: string;
  /** Holds a `$NAME` expansion: its value is not known here. */
  expanded: boolean;
  /** Holds an unquoted glob character: it may become several words. */
  globbed: boolean;
}

export interface SimpleCommand {
  /** `NAME=value` words before the command name. */
  assignments: { name: string; value: Word }[];
  /** The command name and its arguments. */
  words: Word[];
}

export type Analysis = { commands: SimpleCommand[] } | { refused: string };

let parser: Parser | undefined;
let loading: Promise<void> | undefined;
let loadError: string | undefined;

/** Loads the grammar once (a few ms); every policy check awaits it first. */
export function shellParserReady(): Promise<void> {
  loading ??= (async () => {
    try {
      const require = createRequire(import.meta.url);
      await Parser.init();
      const lang = await Language.load(require.resolve("tree-sitter-bash/tree-sitter-bash.wasm"));
      const p = new Parser();
      p.setLanguage(lang);
      parser = p;
    } catch (err) {
      loadError = (err as Error).message;
    }
  })();
  return loading;
}

const refuse = (reason: string): { refused: string } => ({ refused: reason });

/** Unnamed tokens each kind of node may hold. */
const TOKENS: Record<string, Set<string>> = {
  program: new Set([";", "&"]),
  list: new Set(["&&", "||"]),
  pipeline: new Set(["|", "|&"]),
  negated_command: new Set(["!"]),
  redirected_statement: new Set(),
  command: new Set(),
};

/** What each refused node type is, for the message. */
const NAMES: Record<string, string> = {
  command_substitution: "command substitution",
  process_substitution: "process substitution",
  arithmetic_expansion: "arithmetic expansion",
  function_definition: "a function definition",
  subshell: "a subshell",
  compound_statement: "a { ...; } group",
  test_command: "a [[ ]] or [ ] test (use the test command)",
  heredoc_redirect: "a here-document",
  variable_assignment: "a variable assignment",
  declaration_command: "declare/export/local/readonly",
  unset_command: "unset",
  comment: "a # comment",
  ansi_c_string: "$'...' quoting",
  translated_string: '$"..." quoting',
  brace_expression: "brace expansion",
  for_statement: "a loop",
  c_style_for_statement: "a loop",
  while_statement: "a loop",
  if_statement: "an if",
  case_statement: "a case",
};

/**
 * The simple commands of a POSIX-family line with their literal words, or why the line is
 * refused. Refuses when the grammar is not loaded (fail closed).
 */
export function analyze(line: string): Analysis {
  if (!parser) return refuse(`the shell parser is not loaded (${loadError ?? "still loading"})`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(line)) return refuse("control characters or more than one line");
  // History expansion (`!!`, `!-2:s/a/b/`, `^a^b`) rewrites the line after this check.
  const bang = unquotedIndex(line, "!");
  if (bang !== -1) return refuse("'!' outside single quotes (history expansion)");
  if (/^\s*\^/.test(line)) return refuse("'^' at the start (history substitution)");
  const tree = parser.parse(line);
  if (!tree) return refuse("the line does not parse");
  try {
    const root = tree.rootNode;
    if (root.hasError) return refuse("the line does not parse as shell");
    const commands: SimpleCommand[] = [];
    const why = walk(root, commands);
    return why ? refuse(why) : { commands };
  } finally {
    tree.delete();
  }
}

function walk(node: Node, out: SimpleCommand[]): string | undefined {
  const type = node.type;
  if (type === "command") return command(node, out);
  if (type === "redirected_statement") {
    // zsh runs $READNULLCMD (a pager) for a line that is only `< file`.
    if (!node.childForFieldName("body")) return "a redirection without a command";
    for (const child of node.children) {
      if (!child) continue;
      if (child.type.endsWith("_redirect")) {
        const why = redirect(child);
        if (why) return why;
      } else if (child.isNamed) {
        const why = walk(child, out);
        if (why) return why;
      } else return `'${child.type}'`;
    }
    return undefined;
  }
  const tokens = TOKENS[type];
  if (!tokens) return NAMES[type] ?? `'${type}' syntax`;
  for (const child of node.children) {
    if (!child) continue;
    if (!child.isNamed) {
      if (!tokens.has(child.type)) return `'${child.type}'`;
      continue;
    }
    const why = walk(child, out);
    if (why) return why;
  }
  return undefined;
}

const SAFE_REDIRECT = [
  // to the void, or stdout and stderr into each other
  /^(?:[0-9]?>>?|&>>?)\s*\/dev\/null$/,
  /^[0-9]?>&[12]$/,
];

function redirect(node: Node): string | undefined {
  const text = node.text;
  if (node.type === "herestring_redirect") {
    const arg = node.namedChildren[0];
    return arg ? wordOf(arg).refused : "an empty here-string";
  }
  if (node.type !== "file_redirect") return NAMES[node.type] ?? `a ${node.type.replace("_", " ")}`;
  if (SAFE_REDIRECT.some((re) => re.test(text))) return undefined;
  // Reading a file: `< path`.
  const m = /^0?<(?![<>&])\s*/.exec(text);
  const dest = node.childForFieldName("destination");
  if (m && dest) return wordOf(dest).refused;
  return `output redirection '${text}'`;
}

function command(node: Node, out: SimpleCommand[]): string | undefined {
  const cmd: SimpleCommand = { assignments: [], words: [] };
  for (const child of node.children) {
    if (!child) continue;
    if (child.type === "variable_assignment") {
      const name = child.childForFieldName("name")?.text ?? "";
      const value = child.childForFieldName("value");
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || child.text.charAt(name.length) !== "=")
        return "an assignment that is not NAME=value";
      const w = value ? wordOf(value) : { word: { value: "", expanded: false, globbed: false } };
      if ("refused" in w && w.refused) return w.refused;
      cmd.assignments.push({ name, value: (w as { word: Word }).word });
    } else if (child.type === "command_name" || child.isNamed) {
      if (child.type.endsWith("_redirect")) {
        const why = redirect(child);
        if (why) return why;
        continue;
      }
      const target = child.type === "command_name" ? child.namedChildren[0] : child;
      if (!target) return "an empty command name";
      const w = wordOf(target);
      if (w.refused) return w.refused;
      cmd.words.push(w.word as Word);
    } else {
      return `'${child.type}'`;
    }
  }
  out.push(cmd);
  return undefined;
}

const WORD_TYPES = new Set([
  "word",
  "raw_string",
  "string",
  "number",
  "concatenation",
  "simple_expansion",
  "expansion",
]);

/** A word node's literal value, checked on its own text (the grammar only told where it is). */
function wordOf(node: Node): { word?: Word; refused?: string } {
  const bad = firstBadNode(node);
  if (bad) return { refused: NAMES[bad] ?? `'${bad}'` };
  return literal(node.text);
}

function firstBadNode(node: Node): string | undefined {
  if (!node.isNamed) return undefined;
  if (
    !WORD_TYPES.has(node.type) &&
    node.type !== "string_content" &&
    node.type !== "variable_name" &&
    node.type !== "special_variable_name"
  )
    return node.type;
  for (const c of node.children) {
    if (!c) continue;
    const b = firstBadNode(c);
    if (b) return b;
  }
  return undefined;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const SPECIAL = /^[0-9?#$!@*_-]/;

/** Reads `$NAME`, `${NAME}` or a special parameter at text[i] (a `$`); the length, or 0. */
function plainExpansion(text: string, i: number): number {
  const rest = text.slice(i + 1);
  const n = NAME.exec(rest);
  if (n) return 1 + n[0].length;
  if (SPECIAL.test(rest)) return 2;
  const b = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest);
  return b ? 1 + b[0].length : 0;
}

/**
 * Quote removal over one word's text. Refuses what it does not fully understand: an expansion
 * other than a plain one, backticks, `$'..'`/`$".."`, brace expansion, unquoted parentheses
 * or redirection characters.
 */
function literal(text: string): { word?: Word; refused?: string } {
  let value = "";
  let expanded = false;
  let globbed = false;
  let quote: "'" | '"' | undefined;
  let unquoted = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else value += c;
      continue;
    }
    if (c === "`") return { refused: "command substitution" };
    if (c === "$") {
      const next = text[i + 1];
      if (quote === undefined && (next === "'" || next === '"'))
        return { refused: `$${next}...${next} quoting` };
      const len = plainExpansion(text, i);
      if (!len) return { refused: `the expansion '${text.slice(i, i + 12)}'` };
      // zsh subscripts an unbraced `$NAME[...]` and evaluates it as arithmetic ($(...) included).
      if (text[i + len] === "[") return { refused: `a subscript after '${text.slice(i, i + len)}'` };
      value += text.slice(i, i + len);
      expanded = true;
      i += len - 1;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && /["\\$`\n]/.test(text[i + 1] ?? "")) value += text[++i];
      else value += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      continue;
    }
    if (c === "\\") {
      const next = text[++i];
      if (next === undefined || next === "\n") return { refused: "a line continuation" };
      value += next;
      continue;
    }
    if (/[\s()<>;&|]/.test(c)) return { refused: `an unquoted '${c}' inside a word` };
    if (c === "*" || c === "?" || c === "[") globbed = true;
    unquoted += c;
    value += c;
  }
  if (quote) return { refused: "an unbalanced quote" };
  if (/\{[^{}]*(,|\.\.)[^{}]*\}/.test(unquoted)) return { refused: "brace expansion" };
  // `{NAME}>file` stores a new file descriptor's number in NAME (`{PATH}>/dev/null`).
  if (/^\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(text))
    return { refused: `'${text}' (a named file descriptor sets a variable)` };
  return { word: { value, expanded, globbed } };
}

/** Index of the first unescaped `ch` outside single quotes (in double quotes counts), or -1. */
function unquotedIndex(line: string, ch: string): number {
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === ch && !(ch === "!" && line[i + 1] === "=")) return i;
    else if (c === "\\") i++;
    else if (quote === '"') {
      if (c === '"') quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
  }
  return -1;
}
