import { describe, expect, it } from "vitest";
import { profileSchema, type Profile } from "../../src/config/schema.js";
import { SshMcpError } from "../../src/errors.js";
import { classifyLoginFailure, isTransportLoss, lastLines } from "../../src/session/login.js";
import { dropEcho } from "../../src/session/session.js";

function profile(fields: Record<string, unknown>, name = "test"): Profile {
  const p = profileSchema.parse(fields);
  return { ...p, host: p.host ?? "", name, keepalive_interval: p.keepalive_interval ?? 30 };
}

const LAB = profile({ host: "127.0.0.1", port: 2222, username: "root", known_hosts_file: "/tmp/kh" });

const CHANGED = [
  "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
  "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
  "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
  "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!",
  "Someone could be eavesdropping on you right now (man-in-the-middle attack)!",
  "It is also possible that a host key has just been changed.",
  "The fingerprint for the ED25519 key sent by the remote host is",
  "SHA256:Vf0cR3Wm2H3kKqXo3sZ8q1rYq0aTn8m5E1l3pVb9cQk.",
  "Please contact your system administrator.",
  "Add correct host key in /tmp/kh to get rid of this message.",
  "Offending ED25519 key in /tmp/kh:1",
  "  remove with:",
  "  ssh-keygen -f '/tmp/kh' -R '[127.0.0.1]:2222'",
  "Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.",
  "Host key verification failed.",
  "",
].join("\r\n");

const UNKNOWN =
  "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r\n" +
  "Host key verification failed.\r\n";

function classify(text: string, p: Profile = LAB, status: number | null = 255): SshMcpError {
  const err = classifyLoginFailure(text, status, p);
  expect(err).toBeInstanceOf(SshMcpError);
  return err;
}

describe("classifyLoginFailure", () => {
  it("a changed host key is HOST_KEY_MISMATCH with the exact ssh-keygen -R command", () => {
    const err = classify(CHANGED);
    expect(err.code).toBe("HOST_KEY_MISMATCH");
    expect(err.message).toContain("127.0.0.1:2222");
    expect(err.message).toContain("ssh-keygen -R '[127.0.0.1]:2222' -f /tmp/kh");
    expect(err.message).toMatch(/man-in-the-middle/);
    expect(err.data).toMatchObject({ exit_status: 255 });
    expect(String(err.data?.output_tail)).toContain("Host key verification failed.");
  });

  it("uses the bare host in the ssh-keygen hint when the port is 22", () => {
    const err = classify(CHANGED, profile({ host: "db.example.com" }));
    expect(err.code).toBe("HOST_KEY_MISMATCH");
    expect(err.message).toContain("ssh-keygen -R 'db.example.com' -f ~/.ssh/known_hosts");
  });

  it("an unknown host key under strict checking is HOST_KEY_UNKNOWN suggesting auto_add_host_key", () => {
    const err = classify(UNKNOWN);
    expect(err.code).toBe("HOST_KEY_UNKNOWN");
    expect(err.message).toContain("ssh-keyscan -p 2222 127.0.0.1 >> /tmp/kh");
    expect(err.message).toContain(`"auto_add_host_key": true in profile 'test'`);
  });

  it("a bare 'Host key verification failed.' is HOST_KEY_UNKNOWN", () => {
    expect(classify("Host key verification failed.\r\n").code).toBe("HOST_KEY_UNKNOWN");
  });

  it("publickey denial is AUTH_FAILED with hints for the profile's key and username", () => {
    const p = profile({
      host: "127.0.0.1",
      port: 2222,
      username: "root",
      key_filename: "/keys/id_ed25519",
      passphrase_env: "MY_KEY_PP",
    });
    const err = classify(
      "Warning: Permanently added '[127.0.0.1]:2222' (ED25519) to the list of known hosts.\r\n" +
        "root@127.0.0.1: Permission denied (publickey).\r\n",
      p,
    );
    expect(err.code).toBe("AUTH_FAILED");
    expect(err.message).toContain("/keys/id_ed25519");
    expect(err.message).toContain("$MY_KEY_PP");
    expect(err.message).toContain('"username" (root)');
  });

  it("too many authentication failures is AUTH_FAILED", () => {
    const err = classify(
      "Received disconnect from 127.0.0.1 port 2222:2: Too many authentication failures\r\n" +
        "Disconnected from 127.0.0.1 port 2222\r\n",
    );
    expect(err.code).toBe("AUTH_FAILED");
  });

  it("a wrong key passphrase is AUTH_FAILED naming the passphrase variable", () => {
    const p = profile({ host: "h", key_filename: "/k/id", passphrase_env: "PP_VAR" });
    const err = classify(
      'Load key "/k/id": incorrect passphrase supplied to decrypt private key\r\n' +
        "user@h: Permission denied (publickey).\r\n",
      p,
    );
    expect(err.code).toBe("AUTH_FAILED");
    expect(err.message).toContain("$PP_VAR");
    expect(err.message).toMatch(/could not be decrypted/);
  });

  it("connection refused is CONNECTION_FAILED", () => {
    const p = profile({ host: "127.0.0.1", port: 1 });
    const err = classify("ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n", p);
    expect(err.code).toBe("CONNECTION_FAILED");
    expect(err.message).toContain("127.0.0.1:1 refused");
  });

  it("an unresolvable host name is CONNECTION_FAILED naming the host", () => {
    const p = profile({ host: "nosuch.invalid" }, "broken");
    const err = classify("ssh: Could not resolve hostname nosuch.invalid: Name or service not known\r\n", p);
    expect(err.code).toBe("CONNECTION_FAILED");
    expect(err.message).toContain("'nosuch.invalid'");
    expect(err.message).toContain("profile 'broken'");
  });

  it("a connect timeout is CONNECT_TIMEOUT", () => {
    const p = profile({ host: "10.255.255.1" });
    const err = classify("ssh: connect to host 10.255.255.1 port 22: Connection timed out\r\n", p);
    expect(err.code).toBe("CONNECT_TIMEOUT");
    expect(err.message).toContain("10.255.255.1:22");
  });

  it("names the ssh_config_host alias as the target when the profile uses one", () => {
    const p = profile({ host: "ignored", ssh_config_host: "prod-bastion" });
    expect(classify("ssh: connect to host 1.2.3.4 port 22: Connection refused", p).message).toContain(
      "prod-bastion",
    );
  });

  it("anything else is CONNECTION_FAILED with the exit status and the output tail", () => {
    const err = classify("kex_exchange_identification: read: Connection reset by peer\r\n", LAB, 255);
    expect(err.code).toBe("CONNECTION_FAILED");
    expect(err.message).toContain("with status 255");
    expect(err.message).toContain("Connection reset by peer");
    expect(classify("", LAB, null).message).toContain("(no output)");
  });
});

describe("isTransportLoss", () => {
  it.each([
    "Timeout, server 127.0.0.1 not responding.\r\n",
    "client_loop: send disconnect: Broken pipe\r\n",
    "Connection to 127.0.0.1 closed by remote host.\r\nConnection to 127.0.0.1 closed.\r\n",
    "read from socket failed: Connection reset by peer\r\n",
  ])("exit 255 with %j is a transport loss", (text) => {
    expect(isTransportLoss(text, 255)).toBe(true);
  });

  it.each([
    ["no output", ""],
    ["a message ssh prints on any close", "Connection to 127.0.0.1 closed.\r\n"],
    ["an old message in the scrollback", "Connection reset by peer\r\n" + "ok\r\n".repeat(10)],
  ])("exit 255 is a transport loss whatever the output: %s", (_name, text) => {
    expect(isTransportLoss(text, 255)).toBe(true);
  });

  it.each([0, 1, 2, 127, 130, 254, null])(
    "status %j (a normal logout, the shell's own exit status) is not, even with transport messages",
    (status) => {
      expect(isTransportLoss("logout\r\nConnection to 127.0.0.1 closed.\r\n", status)).toBe(false);
      expect(isTransportLoss("client_loop: send disconnect: Broken pipe\r\n", status)).toBe(false);
      expect(isTransportLoss("Timeout, server 127.0.0.1 not responding.\r\n", status)).toBe(false);
    },
  );
});

describe("lastLines", () => {
  it("returns the last n non-empty lines without trailing whitespace or CR", () => {
    expect(lastLines("a\r\n\r\nb  \r\nc\r\n\r\n", 2)).toBe("b\nc");
    expect(lastLines("a\nb\nc", 10)).toBe("a\nb\nc");
    expect(lastLines("", 3)).toBe("");
    expect(lastLines("x\r\ny\r\n", 1)).toBe("y");
  });
});

describe("dropEcho", () => {
  it("drops the echoed input line from the front", () => {
    expect(dropEcho("menu choice 3\nYou picked 3\n", "menu choice 3")).toBe("You picked 3\n");
  });

  it("drops it when the echo follows a prompt on the same line", () => {
    expect(dropEcho("select> 3\nok\n", "3")).toBe("ok\n");
  });

  it("returns empty output when only the echo arrived", () => {
    expect(dropEcho("ls -la", "ls -la")).toBe("");
  });

  it("keeps output whose first line is not the echo", () => {
    expect(dropEcho("hello\nworld\n", "ls")).toBe("hello\nworld\n");
  });

  it("matches a multi-line input by its first line", () => {
    expect(dropEcho("cat <<EOF\n> x\n", "cat <<EOF\nx\nEOF")).toBe("> x\n");
  });

  it("without an echo returns the output unchanged", () => {
    expect(dropEcho("abc\n", undefined)).toBe("abc\n");
    expect(dropEcho("abc\n", "")).toBe("abc\n");
  });
});
