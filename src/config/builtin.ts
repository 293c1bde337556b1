import { join } from "node:path";
import { profileSchema, type Profile } from "./schema.js";

/**
 * The embedded default: profiles for the built-in CMSM bastion lab, served
 * even with no profiles file, so `open_session("lab")` works on a fresh clone. A profiles file
 * that defines the same names wins.
 */

/** Menu prompts, the master shell (`]# `) and the pod shell (`/ # `). */
const LAB_PROMPT = "(Target IP:|User number:|Password:|[#$%>])\\s*$";

export function builtinProfiles(
  runtimeDir: string,
  labPort: number,
  keepalive: number,
): Record<string, Profile> {
  const lab = { host: "127.0.0.1", port: labPort, dir: join(runtimeDir, "lab") };
  const base = profileSchema.parse({
    host: lab.host,
    port: lab.port,
    username: "ops",
    key_filename: join(lab.dir, "client_ed25519"),
    known_hosts_file: join(lab.dir, "known_hosts"),
    allow_agent: false,
    look_for_keys: false,
    prompt_regex: LAB_PROMPT,
  });
  return {
    lab: {
      ...base,
      host: lab.host,
      name: "lab",
      keepalive_interval: keepalive,
      lab,
      origin: { kind: "builtin" },
    },
    "lab-master": {
      ...base,
      host: lab.host,
      origin: { kind: "builtin" },
      name: "lab-master",
      keepalive_interval: keepalive,
      lab,
      route: [
        { expect: "Target IP:", send: "10.0.0.11", sensitive: false },
        { expect: "User number:", send: "1", sensitive: false },
      ],
    },
  };
}
