import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readSshConfig } from "../../src/config/ssh-config.js";

// Each test gets a home directory of its own with ~/.ssh/config in it, as ssh would find it.
let home: string;
let sshDir: string;
let top: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "sshmcp-sshconfig-"));
  sshDir = join(home, ".ssh");
  top = join(sshDir, "config");
  mkdirSync(sshDir);
});

afterEach(() => {
  rmSync(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

function write(path: string, lines: string[], eol = "\n"): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, lines.join(eol) + eol);
  return path;
}

function aliases(path = top): string[] {
  return readSshConfig(path, home).hosts.map((host) => host.alias);
}

describe("readSshConfig: Host lines", () => {
  it("lists each concrete alias with its file and line, whatever the layout", () => {
    write(top, [
      "# my hosts", // 1
      "", // 2
      "Host=alpha beta", // 3
      "  HostName alpha.example", // 4
      "   ", // 5
      "    Host gamma # trailing comment", // 6
      "\tUser me", // 7
      "HOST = delta", // 8
      'host "epsilon"', // 9
      "Hostname not-an-alias", // 10
      "Host\tzeta", // 11
    ]);
    const read = readSshConfig(top, home);
    expect(read.hosts).toEqual([
      { alias: "alpha", file: top, line: 3 },
      { alias: "beta", file: top, line: 3 },
      { alias: "gamma", file: top, line: 6 },
      { alias: "delta", file: top, line: 8 },
      { alias: "epsilon", file: top, line: 9 },
      { alias: "zeta", file: top, line: 11 },
    ]);
    expect(read.problems).toEqual([]);
    expect(read.files).toEqual([top]);
    expect(read.dirs).toEqual([]);
  });

  it("numbers CRLF lines as ssh does", () => {
    write(top, ["# windows editor", "Host one two", "", "  Host three", "Host=four"], "\r\n");
    const read = readSshConfig(top, home);
    expect(read.hosts).toEqual([
      { alias: "one", file: top, line: 2 },
      { alias: "two", file: top, line: 2 },
      { alias: "three", file: top, line: 4 },
      { alias: "four", file: top, line: 5 },
    ]);
    expect(read.problems).toEqual([]);
  });

  it("skips patterns, negations, tokens and names with spaces, keeping a line's concrete words", () => {
    write(top, [
      "Host *",
      "Host *.example.com web? !bastion jump",
      "Host %h-alias \"two words\" 'single' ok",
      "Host !*.internal db",
    ]);
    expect(aliases()).toEqual(["jump", "ok", "db"]);
  });

  it("keeps the first of duplicate aliases; case matters, as in ssh's Host matching", () => {
    write(top, ["Host web", "Host db", "Host WEB web web2", "Host db"]);
    expect(readSshConfig(top, home).hosts).toEqual([
      { alias: "web", file: top, line: 1 },
      { alias: "db", file: top, line: 2 },
      { alias: "WEB", file: top, line: 3 },
      { alias: "web2", file: top, line: 3 },
    ]);
  });

  it("reports a line it cannot split and still lists the rest of the file", () => {
    write(top, [
      "Host first",
      'Host "unclosed',
      'ProxyCommand sh -c "also unclosed', // not a Host line: ssh -G's business
      "Host",
      "Include",
      "Host last",
    ]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => [host.alias, host.line])).toEqual([
      ["first", 1],
      ["last", 6],
    ]);
    expect(read.problems.map((problem) => [problem.file, problem.line])).toEqual([
      [top, 2],
      [top, 4],
      [top, 5],
    ]);
    expect(read.problems[0]?.message).toMatch(/quotes/);
    expect(read.problems[1]?.message).toMatch(/^Host without an argument/);
  });

  it("is empty, without a problem, when the config file does not exist (it is watched for creation)", () => {
    const read = readSshConfig(top, home);
    expect(read).toEqual({ hosts: [], files: [top], dirs: [], patterns: [], problems: [] });
  });

  it("reports a top config that is a directory, naming the file only", () => {
    mkdirSync(top);
    const read = readSshConfig(top, home);
    expect(read.hosts).toEqual([]);
    expect(read.files).toEqual([top]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]?.file).toBe(top);
    expect(read.problems[0]?.line).toBeUndefined();
    expect(read.problems[0]?.message).toMatch(/is a directory/);
  });
});

describe("readSshConfig: Include", () => {
  it("reads included files in place: relative to ~/.ssh, absolute and ~/", () => {
    const relative = write(join(sshDir, "work"), ["Host from-relative"]);
    const absolute = write(join(home, "elsewhere", "absolute.conf"), ["", "Host from-absolute"]);
    const tilde = write(join(home, "tilde.conf"), ["Host from-tilde"]);
    write(top, ["Host before", "Include work", `Include ${absolute}`, "Include ~/tilde.conf", "Host after"]);
    const read = readSshConfig(top, home);
    expect(read.hosts).toEqual([
      { alias: "before", file: top, line: 1 },
      { alias: "from-relative", file: relative, line: 1 },
      { alias: "from-absolute", file: absolute, line: 2 },
      { alias: "from-tilde", file: tilde, line: 1 },
      { alias: "after", file: top, line: 5 },
    ]);
    expect(read.files).toEqual([top, relative, absolute, tilde]);
    expect(read.dirs).toEqual([sshDir, join(home, "elsewhere"), home]);
    expect(read.problems).toEqual([]);
  });

  it("expands globs in sorted order, without dot files, and several patterns on one line in turn", () => {
    const dir = join(sshDir, "config.d");
    write(join(dir, "b10"), ["Host b10"]);
    write(join(dir, "b2"), ["Host b2"]);
    write(join(dir, "a.conf"), ["Host a"]);
    write(join(dir, ".hidden"), ["Host hidden"]);
    mkdirSync(join(dir, "subdir"));
    const extra = write(join(home, "extra", "x.conf"), ["Host x"]);
    write(top, ["Include config.d/* ~/extra/*.conf"]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["a", "b10", "b2", "x"]);
    expect(read.files).toEqual([top, join(dir, "a.conf"), join(dir, "b10"), join(dir, "b2"), extra]);
    expect(read.dirs).toEqual([dir, join(home, "extra")]);
    // The patterns, absolute: a file created later that matches one is read on the next reload.
    expect(read.patterns).toEqual([join(dir, "*"), join(home, "extra", "*.conf")]);
    expect(read.problems).toEqual([]);
  });

  it("matches a dot file when the pattern itself starts with a dot", () => {
    write(join(sshDir, "conf", ".hidden"), ["Host hidden"]);
    write(top, ["Include conf/.h*"]);
    expect(aliases()).toEqual(["hidden"]);
  });

  it("takes ( { ! + in directory and file names literally, as glob(3) does", () => {
    const dir = join(sshDir, "conf (1) {x}");
    write(join(dir, "!a+(b)"), ["Host odd-name"]);
    write(join(dir, "(c)"), ["Host parens"]);
    write(join(dir, "plain"), ["Host plain"]);
    write(top, [`Include "${dir}/!a+(*)"`, `Include "${dir}/(c)" ${dir.replaceAll(" ", "?")}/p*`]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["odd-name", "parens", "plain"]);
    expect(read.problems).toEqual([]);
  });

  it("follows an Include inside a Host or a Match block", () => {
    const inHost = write(join(sshDir, "in-host"), ["Host nested-in-host"]);
    const inMatch = write(join(sshDir, "in-match"), ["Host nested-in-match"]);
    write(top, [
      "Host outer",
      "  User me",
      "  Include in-host",
      "Match host foo exec true",
      "  Include in-match",
    ]);
    const read = readSshConfig(top, home);
    expect(read.hosts).toEqual([
      { alias: "outer", file: top, line: 1 },
      { alias: "nested-in-host", file: inHost, line: 1 },
      { alias: "nested-in-match", file: inMatch, line: 1 },
    ]);
    expect(read.problems).toEqual([]);
  });

  it("skips an Include that matches nothing, silently, and still records where it looked", () => {
    write(top, [
      "Include missing-file",
      "Include ~/nowhere/*",
      "Include /nonexistent-sshmcp-dir/sub/*.conf",
      "Host still-here",
    ]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["still-here"]);
    expect(read.problems).toEqual([]);
    expect(read.files).toEqual([top]);
    expect(read.dirs).toEqual([sshDir, join(home, "nowhere"), "/nonexistent-sshmcp-dir/sub"]);
  });

  it("reports a loop (A includes B includes A) at the Include that closes it, and stops", () => {
    const b = join(sshDir, "b");
    write(top, ["Host in-a", "Include b"]);
    write(b, ["# b", "Host in-b", `Include ${top}`]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["in-a", "in-b"]);
    expect(read.files).toEqual([top, b]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]).toMatchObject({ file: b, line: 3 });
    expect(read.problems[0]?.message).toMatch(
      new RegExp(`^Include loop: ${b} includes ${top}, already being read`),
    );
  });

  it("reports a file that includes itself", () => {
    write(top, ["Host self", "", "Include config"]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["self"]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]).toMatchObject({ file: top, line: 3 });
    expect(read.problems[0]?.message).toMatch(/^Include loop: .* includes .*, already being read/);
  });

  it("knows a file included through a symbolic link as the same file", () => {
    symlinkSync(top, join(sshDir, "alias-of-config"));
    write(top, ["Host linked", "Include alias-of-config"]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["linked"]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]).toMatchObject({ file: top, line: 2 });
    expect(read.problems[0]?.message).toMatch(/^Include loop: /);
  });

  it("stops at ssh's depth limit of 16 nested includes", () => {
    // config (depth 0) includes n1, ..., n16 (depth 16, still read) includes n17 (refused).
    write(top, ["Host d0", "Include n1"]);
    for (let depth = 1; depth <= 17; depth++) {
      write(join(sshDir, `n${depth}`), [`Host d${depth}`, `Include n${depth + 1}`]);
    }
    const read = readSshConfig(top, home);
    expect(read.hosts).toHaveLength(17);
    expect(read.hosts.at(-1)?.alias).toBe("d16");
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]).toMatchObject({ file: join(sshDir, "n16"), line: 2 });
    expect(read.problems[0]?.message).toMatch(/more than 16 levels/);
  });

  it("reports an Include that names a directory at the Include line, and reads on", () => {
    mkdirSync(join(sshDir, "conf.d"));
    write(top, ["Host one", "Include conf.d", "Host two"]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["one", "two"]);
    expect(read.files).toEqual([top]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]).toMatchObject({ file: top, line: 2 });
    expect(read.problems[0]?.message).toMatch(/is a directory/);
  });

  it("reports an included file it cannot read at the Include line (a symbolic link loop: even root)", () => {
    symlinkSync(join(sshDir, "loop-b"), join(sshDir, "loop-a"));
    symlinkSync(join(sshDir, "loop-a"), join(sshDir, "loop-b"));
    write(top, ["Host one", "Include loop-a"]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["one"]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]).toMatchObject({ file: top, line: 2 });
    expect(read.problems[0]?.message).toMatch(/Cannot read .*loop-a/);
  });

  it("reports an Include of another user's home instead of guessing it", () => {
    write(top, ["Include ~someone/.ssh/config", "Host mine"]);
    const read = readSshConfig(top, home);
    expect(read.hosts.map((host) => host.alias)).toEqual(["mine"]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]).toMatchObject({ file: top, line: 1 });
  });
});
