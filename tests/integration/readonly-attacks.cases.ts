/**
 * The tables of tests/integration/readonly-attacks.test.ts: attempts to write through a readonly
 * profile (issue 13), and ordinary read-only work that must keep running.
 *
 * Placeholders, filled in per case by the test: @F the case's target file, @D the case
 * directory (made fresh on the remote for the run), @R a small git repository in it, @ID the
 * case id. Every attack writes @F (or changes it, when `existing`) when nothing stops it.
 */

/** A key to press (a tmux key name) or text typed one key per character. */
export type Key = string | { chars: string };

export type Step =
  | { tool: "execute_command"; command: string }
  | { tool: "send_text"; text: string; sensitive?: boolean }
  | { tool: "send_keys"; keys: Key[]; oneCallPerKey?: boolean };

export interface Attack {
  id: string;
  note: string;
  steps: Step[];
  /** File name in @D whose creation or change is the write; default: the id. */
  target?: string;
  /** @F exists beforehand holding ORIGINAL; the attack tries to change or delete it. */
  existing?: boolean;
  /** The write could land after the last tool returned (background job, next prompt, pager). */
  late?: boolean;
}

export const ORIGINAL = "orig\n";

type Extra = Pick<Attack, "target" | "existing" | "late">;

const ex = (id: string, command: string, note: string, extra: Extra = {}): Attack => ({
  id,
  note,
  steps: [{ tool: "execute_command", command }],
  ...extra,
});
const text = (id: string, t: string, note: string, sensitive = false): Attack => ({
  id,
  note,
  steps: [{ tool: "send_text", text: t, sensitive }],
});
const run = (command: string): Step => ({ tool: "execute_command", command });
const type = (t: string): Step => ({ tool: "send_text", text: t });
const keys = (...k: Key[]): Step => ({ tool: "send_keys", keys: k });

/** A kubeconfig whose user authenticates with an exec plugin: kubectl runs it for any request. */
const KUBECONFIG =
  '{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{"server":"https://127.0.0.1:9"}}],' +
  '"users":[{"name":"u","user":{"exec":{"apiVersion":"client.authentication.k8s.io/v1beta1",' +
  '"command":"touch","args":["@F"],"interactiveMode":"Never"}}}],' +
  '"contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}],"current-context":"x"}';

const FIND = "find @D -maxdepth 0";

export const ATTACKS: Attack[] = [
  // Expansion: the words a checker reads literally are not the words bash runs.
  ex("find-exec-split", FIND + " -ex${X}ec touch @F \\;", "an empty variable inside an option"),
  ex("find-exec-default", FIND + " ${X:--exec} touch @F \\;", "a default value that is an option"),
  ex("find-exec-locale", FIND + ' $"-exec" touch @F \\;', "locale quoting"),
  ex("find-exec-brace", FIND + " {-exec,touch} @F \\;", "brace expansion into option and program"),
  ex("find-exec-ansi", FIND + " $'\\x2dexec' touch @F \\;", "ANSI-C quoting with a hex escape"),
  ex("find-exec-backslash", FIND + " \\-exec touch @F \\;", "an escaped dash"),
  ex("find-exec-quotes", FIND + ' "-"exec touch @F \\;', "quotes splitting the option"),
  ex(
    "find-exec-glob",
    "cd @D/g && find . -maxdepth 0 -e?ec touch @F \\;",
    "a glob matching a file named -exec",
  ),
  ex("find-exec-tilde", "HOME=-exec; " + FIND + " ~ touch @F \\;", "tilde expanding to an option"),
  ex("find-exec-ifs", "A=-exec,touch,@F,';' IFS=,; " + FIND + " $A", "word splitting on a changed IFS"),
  ex(
    "find-exec-positional",
    "set -- -exec touch @F ';'; " + FIND + ' "$@"',
    "positional parameters as options",
  ),
  ex("find-exec-continuation", FIND + " -ex\\\nec touch @F \\;", "a line continuation inside an option"),
  ex("find-execdir-default", FIND + " ${X:--execdir} touch @F \\;", "-execdir behind a default value"),
  ex("find-exec-plain", FIND + " -exec touch @F \\;", "find -exec"),
  ex("find-fprint", FIND + " -fprint @F", "find -fprint writes its output"),
  ex("find-fprint-split", FIND + " -fpr${X}int @F", "find -fprint with an empty variable"),
  ex("find-fprintf", FIND + " -fprintf @F x", "find -fprintf"),
  ex("find-fls", FIND + " -fls @F", "find -fls"),
  ex("find-delete-split", "find @D -name @ID -de${X}lete", "find -delete with an empty variable", {
    existing: true,
  }),
  ex("awk-system-split", 'awk "BEGIN{sys${X}tem(\\"touch @F\\")}"', "awk system() behind an empty variable"),
  ex("awk-system", "awk 'BEGIN{system(\"touch @F\")}'", "awk system()"),
  ex("awk-print-redirect", "awk 'BEGIN{print 1 > \"@F\"}'", "awk output redirection"),
  ex("awk-print-pipe", "echo touch @F | awk '{print | \"sh\"}'", "awk pipe to a shell"),
  ex("awk-getline-cmd", "awk 'BEGIN{\"touch @F\" | getline}'", "awk command | getline"),
  ex(
    "awk-W-exec",
    'echo "BEGIN{sys${X}tem(\\"touch @F\\")}" | awk -W exec /dev/stdin',
    "mawk -W exec reads a program",
  ),
  ex("sed-i-split", "sed -${X}i s/^/x/ @F", "sed -i behind an empty variable", { existing: true }),
  ex("sed-ni-split", "sed -n${X}i s/^/x/ @F", "sed -n -i clustered across a variable", { existing: true }),
  ex("sed-i-default", "sed ${X:--i} s/^/x/ @F", "sed -i as a default value", { existing: true }),
  ex("sed-i-brace", "sed {-n,-i} s/^/x/ @F", "sed -i from brace expansion", { existing: true }),
  ex("sed-i", "sed -i s/^/x/ @F", "sed -i", { existing: true }),
  ex("sed-in-place", "sed --in-place s/^/x/ @F", "sed --in-place", { existing: true }),
  ex("sed-s-i", "sed -s -i s/^/x/ @F", "sed -s -i", { existing: true }),
  ex("sed-w", "sed -n 'w @F' /etc/hostname", "sed w command"),
  ex("sed-s-w-flag", "sed 's/^/x/w @F' /etc/hostname", "sed s///w"),
  ex("sed-e-cmd", "sed -n '1e touch @F' /etc/hostname", "sed e command runs a shell"),
  ex(
    "sed-file-abbrev",
    "echo 'w @F' | sed -n --fil=/dev/stdin /etc/hostname",
    "sed --file abbreviated, script on stdin",
  ),
  ex(
    "sort-compress-sh",
    "printf 'touch @F #%s\\n' {1..50} | sort -S 1K --compress-program=sh",
    "sort feeds its data to a 'compressor'",
  ),
  ex(
    "sort-compress-abbrev",
    "printf 'touch @F #%s\\n' {1..50} | sort -S 1K --compress-prog=sh",
    "the same, abbreviated",
  ),
  ex("sort-o", "sort -o @F /etc/hostname", "sort -o"),
  ex("sort-o-split", "sort -${X}o @F /etc/hostname", "sort -o behind an empty variable"),
  ex("sort-o-default", "sort ${X:--o}@F /etc/hostname", "sort -oFILE as a default value"),
  ex("sort-output", "sort --output=@F /etc/hostname", "sort --output"),
  ex("uniq-dash-out", "echo x | uniq - @F", "uniq - OUTPUT"),
  ex("uniq-brace-out", "uniq {/etc/hostname,@F}", "uniq INPUT OUTPUT from brace expansion"),
  ex("uniq-out", "uniq /etc/hostname @F", "uniq INPUT OUTPUT"),
  ex("xargs-tI-cluster", "echo x | xargs -tI ls touch @F", "clustered -tI takes 'ls' as its value"),
  ex("xargs-rE-cluster", "echo @F | xargs -rE ls touch", "clustered -rE takes 'ls' as its value"),
  ex(
    "xargs-feed-delete",
    "echo -delete | xargs find @D -name @ID",
    "xargs appends an option from its input",
    {
      existing: true,
    },
  ),
  ex(
    "xargs-feed-exec",
    "printf '%s\\n' -exec touch @F ';' | xargs " + FIND,
    "xargs appends -exec from its input",
  ),
  ex("xargs-feed-sed-i", "echo -i | xargs sed s/^/x/ @F", "xargs appends sed's -i", { existing: true }),
  ex("xargs-feed-env-S", "echo -S\"'touch @F'\" | xargs env", "xargs feeds env -S"),
  ex("xargs-sh", "echo @F | xargs -I{} sh -c 'touch {}'", "xargs running a shell"),
  ex("file-compile", "cd @D && file -C -m @D/src/@ID", "file -C writes NAME.mgc in the current directory", {
    target: "file-compile.mgc",
  }),
  ex(
    "git-config-env-pager",
    "cd @R && P='touch @F' git --config-env=core.pager=P log",
    "pager set from a variable",
  ),
  ex("git-c-pager", "cd @R && git -c core.pager='touch @F' log", "git -c core.pager"),
  ex(
    "git-config-env-fsmonitor",
    "cd @R && M='touch @F; false' git --config-env=core.fsmonitor=M status",
    "fsmonitor hook",
  ),
  ex(
    "git-config-env-extdiff",
    "cd @R && E='touch @F' git --no-pager --config-env=diff.external=E log -p --ext-diff -1",
    "external diff program",
  ),
  ex(
    "git-grep-open-pager",
    "cd @R && git grep --open-files-in-pager='touch @F' hello",
    "git grep -O runs a program",
  ),
  ex("git-grep-O", "cd @R && git grep -O'touch @F' hello", "git grep -O, short form"),
  ex("git-output", "git -C @R log --output=@F", "git log --output"),
  ex("git-output-split", "cd @R && git log --outp${X}ut=@F", "git log --output behind an empty variable"),
  ex("git-pager-env", "cd @R && GIT_PAGER='touch @F' git log", "GIT_PAGER"),
  ex(
    "git-config-count-env",
    "cd @R && GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.pager GIT_CONFIG_VALUE_0='touch @F' git log",
    "config from the environment",
  ),
  ex(
    "git-ext-diff-env",
    "cd @R && GIT_EXTERNAL_DIFF='touch @F' git --no-pager log -p --ext-diff -1",
    "GIT_EXTERNAL_DIFF",
  ),
  ex(
    "kubectl-kubeconfig-stdin",
    "echo '" + KUBECONFIG + "' | kubectl get pods --kubeconfig=/dev/stdin",
    "exec credential plugin from stdin",
  ),
  ex(
    "kubectl-kubeconfig-stdin-sep",
    "echo '" + KUBECONFIG + "' | kubectl get pods --kubeconfig /dev/stdin",
    "the same, separate value",
  ),
  ex(
    "kubectl-kubeconfig-first",
    "echo '" + KUBECONFIG + "' | kubectl --kubeconfig=/dev/stdin get pods",
    "the flag before the verb",
  ),
  ex("kubectl-env", "echo '" + KUBECONFIG + "' | KUBECONFIG=/dev/stdin kubectl get pods", "KUBECONFIG="),
  ex("env-S", "env -S'touch @F'", "env -S splits a command"),
  ex("env-sh-c", "env sh -c 'touch @F'", "env running a shell"),
  ex("env-dashdash", "env -- touch @F", "env -- PROGRAM"),
  ex("tee", "echo x | tee @F", "tee"),
  ex("tee-name-default", "echo x | ${X:-tee} @F", "program name behind a default value"),
  ex("cp", "cp /etc/hostname @F", "cp"),
  ex("dd", "dd if=/etc/hostname of=@F", "dd"),
  ex("install", "install -m 644 /etc/hostname @F", "install"),
  ex("ln", "ln -s /etc/hostname @F", "ln"),
  ex("mkdir", "mkdir @F", "mkdir"),
  ex("touch", "touch @F", "touch"),
  ex("touch-name-split", "tou${X}ch @F", "program name with an empty variable"),
  ex("touch-name-continuation", "tou\\\nch @F", "program name across a line continuation"),
  // Syntax a word splitter does not model.
  ex("func-shadow-cat", "cat () ( touch @F ); cat", "a function shadowing an allowed name"),
  ex("func-shadow-echo", "echo () ( touch @F ); echo x", "the same with echo"),
  {
    id: "func-persist",
    note: "a function defined in one call runs in the next",
    steps: [run("ls () ( touch @F )"), run("ls")],
  },
  ex("func-keyword", "function ls { touch @F; }; ls", "function keyword"),
  ex("indirect-assign", "echo ${V:='a[$(touch @F)]'} ${!V}", "indirect expansion evaluates a subscript"),
  ex("substring-arith", "echo ${Q:='a[$(touch @F)]'} ${HOME:Q}", "substring offset is arithmetic"),
  ex("substring-length-arith", "echo ${Q:='a[$(touch @F)]'} ${HOME:0:Q}", "substring length is arithmetic"),
  ex("subscript-arith", "echo ${Q:='a[$(touch @F)]'} ${HOME[Q]}", "an array subscript is arithmetic"),
  ex("arith-expansion", "echo ${Q:='a[$(touch @F)]'} $((Q))", "arithmetic expansion"),
  ex("arith-command", "(( a[$(touch @F)] ))", "arithmetic command"),
  ex("dbracket-eq", "[[ 1 -eq 'a[$(touch @F)]' ]]", "[[ -eq ]] evaluates its operands"),
  ex("test-v-split", "test -${X}v 'a[$(touch @F)]'", "test -v evaluates a subscript"),
  ex("printf-v-split", "printf -${X}v 'a[$(touch @F)]' x", "printf -v assigns to a subscript"),
  ex("let", "let 'a[$(touch @F)]'", "let"),
  ex("prompt-expansion", "echo ${V:='$(touch @F)'} ${V@P}", "prompt expansion runs substitutions"),
  ex("cmdsub", "echo $(touch @F)", "command substitution"),
  ex("cmdsub-backtick", "echo `touch @F`", "backticks"),
  ex("cmdsub-dquote", 'echo "$(touch @F)"', "in double quotes"),
  ex("cmdsub-dquote-backtick", 'echo "`touch @F`"', "backticks in double quotes"),
  ex("cmdsub-in-default", 'echo "${X:-$(touch @F)}"', "in a default value"),
  ex("cmdsub-continuation", "echo $\\\n(touch @F)", "$ and ( joined by a line continuation"),
  ex("procsub-in", "cat <(touch @F)", "process substitution"),
  ex("procsub-out", "echo x > >(cat > @F)", "output process substitution"),
  ex("heredoc-cmdsub", "cat <<EOF\n$(touch @F)\nEOF", "substitution in a here-document"),
  ex("herestring-cmdsub", 'cat <<< "$(touch @F)"', "substitution in a here-string"),
  ex(
    "heredoc-quoted-delimiter",
    'cat <<E"O"F\nx\nEOF\ntouch @F',
    "the line after a here-document is a command",
  ),
  ex("eval", "eval 'touch @F'", "eval"),
  ex("eval-name-split", "e${X}val 'touch @F'", "eval behind an empty variable"),
  ex("builtin-eval", "builtin eval 'touch @F'", "builtin"),
  ex("command-eval", "command eval 'touch @F'", "command"),
  ex("command-p", "command -p touch @F", "command -p"),
  ex("enable-eval", "enable eval && eval 'touch @F'", "enable"),
  ex("exec-fd", "exec 3>@F", "exec with a redirection"),
  ex("exec-program", "exec touch @F", "exec replaces the shell"),
  ex("source-stdin", "source /dev/stdin <<< 'touch @F'", "source"),
  ex("dot-stdin", ". /dev/stdin <<< 'touch @F'", "."),
  ex("source-procsub", "source <(echo touch @F)", "source of a process substitution"),
  { id: "alias", note: "an alias defined in one call", steps: [run("alias ls='touch @F'"), run("ls")] },
  ex("trap-debug", "trap 'touch @F' DEBUG", "trap DEBUG", { late: true }),
  ex("trap-err", "trap 'touch @F' ERR; false", "trap ERR"),
  ex("declare-arith", "declare -i X='a[$(touch @F)]'", "declare -i evaluates"),
  ex("typeset-arith", "typeset -i X='a[$(touch @F)]'", "typeset -i"),
  ex("local-arith", "f () ( local -i X='a[$(touch @F)]' ); f", "local -i"),
  ex("readonly-arith", "readonly -a R='([a[$(touch @F)]]=1)'", "readonly array assignment"),
  ex("export-prompt-command", "export PROMPT_COMMAND='touch @F'", "export PROMPT_COMMAND", { late: true }),
  ex("prompt-command", "PROMPT_COMMAND='touch @F'", "PROMPT_COMMAND=", { late: true }),
  ex("bash-env", "BASH_ENV=/dev/stdin bash -c : <<< 'touch @F'", "BASH_ENV="),
  ex("path-prefix", "PATH=@D/bin ls", "PATH= in front of an allowed name"),
  ex("path-assign", "PATH=@D/bin:$PATH; cat /etc/hostname", "PATH= for the next commands"),
  ex("coproc", "coproc touch @F", "coproc", { late: true }),
  ex("time", "time touch @F", "time"),
  ex(
    "shopt-nocaseglob",
    "shopt -s nocaseglob; cd @D/g && find . -maxdepth 0 -E?EC touch @F \\;",
    "shopt changes what a glob matches",
  ),
  ex("set-noclobber", "set +o noclobber; echo x >| @F", "set, then >|"),
  // Redirections.
  ex("redir-out", "echo x > @F", ">"),
  ex("redir-append", "echo x >> @F", ">>", { existing: true }),
  ex("redir-clobber", "echo x >| @F", ">|"),
  ex("redir-both", "echo x &> @F", "&>"),
  ex("redir-readwrite", "cat <> @F", "<> creates the file"),
  ex("redir-stderr", "ls /nonexistent 2> @F", "2>"),
  ex("redir-dup-file", "echo x >& @F", ">&FILE"),
  ex("redir-dup-word", 'cd @D && echo x >&1"@ID"', ">&WORD that is not a number is a file", {
    target: "1redir-dup-word",
  }),
  ex("redir-fd10", "echo x 10> @F", "a two-digit descriptor"),
  ex("redir-group", "{ echo x; } > @F", "a redirected group"),
  ex("redir-first", "> @F echo x", "redirection before the command"),
  ex("redir-after-null", "echo x >/dev/null > @F", "an allowed redirection then another"),
  // Lists, newlines and control characters.
  ex("list-newline", "ls\ntouch @F", "newline"),
  ex("list-semicolon", "ls; touch @F", ";"),
  ex("list-background", "ls & touch @F", "&", { late: true }),
  ex("list-or", "ls /nonexistent || touch @F", "||"),
  ex("list-and", "ls && touch @F", "&&"),
  ex("list-pipe", "ls | touch @F", "|"),
  ex("list-subshell", "(touch @F)", "a subshell"),
  ex("list-brace-group", "{ touch @F; }", "a brace group"),
  ex("list-negated", "! touch @F", "a negated pipeline"),
  ex("list-if", "if ls; then touch @F; fi", "if"),
  ex("list-for", "for x in 1; do touch @F; done", "for"),
  ex("list-case", "case x in x) touch @F;; esac", "case"),
  // Other input paths.
  text("text-plain", "touch @F", "send_text of a command"),
  text("text-newline", "ls\ntouch @F", "send_text with a newline"),
  text("text-cr", "ls\rtouch @F", "send_text with a carriage return"),
  text("text-ctrl-u", "ls\x15touch @F", "send_text with Ctrl-U"),
  text("text-bracketed-paste", "\x1b[200~touch @F\x1b[201~", "bracketed paste"),
  text("text-sensitive", "touch @F", "sensitive text at a shell prompt", true),
  {
    id: "text-sensitive-typeahead",
    note: "a fake Password: prompt, the rest of the secret is typeahead for the shell",
    steps: [
      run("printf 'Password: '; head -n 1 >/dev/null"),
      { tool: "send_text", text: "x\ntouch @F", sensitive: true },
    ],
  },
  { id: "keys-typed", note: "send_keys typing a command", steps: [keys({ chars: "touch @F" }, "Enter")] },
  {
    id: "keys-one-by-one",
    note: "send_keys one key per call",
    steps: [{ tool: "send_keys", keys: [{ chars: "touch @F" }, "Enter"], oneCallPerKey: true }],
  },
  {
    id: "keys-then-text",
    note: "keys typed, then an allowed send_text",
    steps: [keys({ chars: "touch @F && " }), type("ls")],
  },
  {
    id: "keys-then-empty-text",
    note: "keys typed, then Enter by send_text",
    steps: [keys({ chars: "touch @F" }), type("")],
  },
  {
    id: "keys-kill-yank",
    note: "readline kill and yank",
    steps: [keys({ chars: "touch @F" }, "C-a", "C-k", "C-y", "Enter")],
  },
  {
    id: "pager-bang",
    note: "!cmd in the pager git log opened",
    steps: [run("git -C @R log"), keys("!"), type("touch @F")],
  },
  {
    id: "pager-bang-cd",
    note: "!cmd in the pager, typed as keys",
    steps: [run("cd @R && git log"), keys({ chars: "!touch @F" }, "Enter")],
  },
  {
    id: "pager-text-bang",
    note: "!cmd in the pager by send_text",
    steps: [run("cd @R && git log"), type("!touch @F")],
  },
  {
    id: "pager-save",
    note: "less's s command saves piped input to a file",
    steps: [run("cd @R && git log"), keys("s"), type("@F")],
  },
  {
    id: "pager-pipe",
    note: "less's | command pipes to a shell command",
    steps: [run("cd @R && git log"), keys("|", "."), type("touch @F")],
  },
  {
    id: "pager-save-keys",
    note: "less's s command, the file name typed as keys",
    steps: [run("cd @R && git log"), keys("s", { chars: "@F" }, "Enter")],
  },
  {
    id: "pager-pipe-keys",
    note: "less's | command, typed as keys",
    steps: [run("cd @R && git log"), keys("|", ".", { chars: "touch @F" }, "Enter")],
  },
  {
    id: "pager-less-file",
    note: "!cmd in less opened on a file",
    steps: [run("less /etc/services"), keys({ chars: "!touch @F" }, "Enter")],
  },
];

export interface Ordinary {
  command: string;
  /** Output must equal that of the same command over a plain ssh (it does not vary by run). */
  sameOutput?: boolean;
  /** The program it needs; the case asserts the binary absent instead when it is not there. */
  needs?: string;
}

export const ORDINARY: Ordinary[] = [
  { command: "sed -n 1,2p /etc/passwd", sameOutput: true },
  // On a terminal git decorates (HEAD -> master); over a pipe it does not: the exit code is compared.
  { command: "git -C @R log --oneline" },
  { command: "grep -rn root /etc/passwd", sameOutput: true },
  { command: "find /etc -maxdepth 1 -name 'host*'", sameOutput: true },
  { command: "ps aux" },
  { command: "df -h" },
  { command: "ss -tln", needs: "ss" },
  { command: "ls -la /tmp" },
  { command: "cat /etc/hostname", sameOutput: true },
  { command: "head -n 3 /etc/passwd | cut -d: -f1", sameOutput: true },
  { command: "wc -l /etc/passwd", sameOutput: true },
  { command: "sort /etc/passwd | uniq -c | head", sameOutput: true },
  { command: "awk -F: '{print $1}' /etc/passwd | head -3", sameOutput: true },
  { command: "journalctl --no-pager -n 5", needs: "journalctl" },
  { command: 'echo "$HOME"', sameOutput: true },
  { command: "uname -a", sameOutput: true },
  { command: "id", sameOutput: true },
  { command: "date" },
  { command: "du -sh @R", sameOutput: true },
  { command: "stat /etc/passwd" },
  { command: "ls /var/log/*.log" },
  { command: "tail -n 2 /etc/passwd", sameOutput: true },
  { command: "grep -c root /etc/passwd", sameOutput: true },
  { command: "cut -d: -f1,7 /etc/passwd | grep -v nologin", sameOutput: true },
  { command: "sed -e 's/:.*//' /etc/passwd | head -n 2", sameOutput: true },
  { command: "git -C @R status --short", sameOutput: true },
  { command: "find @R -name '*.txt' -type f", sameOutput: true },
  { command: "echo /etc/hostname | xargs cat", sameOutput: true },
  { command: "grep root /etc/passwd >/dev/null 2>&1 && echo found", sameOutput: true },
  { command: "ls /nonexistent-dir 2>/dev/null" },
];
