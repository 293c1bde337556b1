#!/usr/bin/env bash
# What the test suites need beyond Node, npm, tmux and the OpenSSH client: a real sshd, the
# shells the terminal tests log into, a pager, an editor, a REPL, busybox for the lab's pod and
# Chromium for the viewer's browser test. `npm test` runs this first (pretest); so does CI.
#
# All present: exits 0 at once. Missing, and root or passwordless sudo with apt-get: installs
# them. Otherwise: one line naming what is missing and how to install it, exit 1, no test runs.
set -euo pipefail

# command-to-check:debian-package
NEEDS=(
  "tmux:tmux"
  "ssh:openssh-client"
  "/usr/sbin/sshd:openssh-server"
  "ps:procps"
  "dash:dash"
  "zsh:zsh"
  "fish:fish"
  "tcsh:tcsh"
  "mksh:mksh"
  "ksh:ksh"
  "static-busybox:busybox-static"
  "less:less"
  "vi:vim-tiny"
  "python3:python3"
  "chromium|chromium-browser|google-chrome:chromium"
)

have() {
  local alt
  # The lab's pod copies busybox into its own root: it must be the static build.
  if [[ "$1" == static-busybox ]]; then
    [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1
    return
  fi
  IFS='|' read -ra alts <<<"$1"
  for alt in "${alts[@]}"; do
    if [[ "$alt" == /* ]]; then [[ -x "$alt" ]] && return 0; else command -v "$alt" >/dev/null 2>&1 && return 0; fi
  done
  return 1
}

missing=()
for need in "${NEEDS[@]}"; do
  have "${need%%:*}" || missing+=("${need##*:}")
done
# sshd needs its privilege separation directory (on tmpfs, made when the service first runs).
if [[ -x /usr/sbin/sshd && ! -d /run/sshd && $(id -u) -eq 0 ]]; then mkdir -p /run/sshd; fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo_cmd=(sudo -n); else sudo_cmd=(none); fi
fi
if command -v apt-get >/dev/null 2>&1 && [[ "${sudo_cmd[0]:-}" != none ]]; then
  echo "prerequisites: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  "${sudo_cmd[@]}" mkdir -p /run/sshd
  exit 0
fi

echo "The tests need: ${missing[*]}. Install them, then run npm test again:" \
  "Debian/Ubuntu: sudo apt-get install ${missing[*]};" \
  "Fedora: sudo dnf install openssh-server tmux procps-ng dash zsh fish tcsh mksh ksh busybox less vim-minimal python3 chromium;" \
  "macOS: brew install tmux zsh fish tcsh mksh ksh busybox less vim python chromium (and enable Remote Login for sshd)." >&2
exit 1
