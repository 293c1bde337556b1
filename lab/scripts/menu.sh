#!/usr/bin/env bash
# CMSM bastion menu simulator (ssh-mcp lab). Runs in a real PTY started by the lab SSH server.
# Flow: Target IP: -> User number: -> (Password: for privileged users) -> master bash shell.
# LAB_MODE=cr makes the menu accept only CR as Enter (like some legacy bastions).
set -u
S="${LAB_SCRIPTS:?}"
D="${LAB_DIR:?}"
MODE="${LAB_MODE:-}"
PASSWORD="${LAB_PASSWORD:-cmsm-lab}"
# The privileged password stays in this menu: no shell started from here inherits it.
unset LAB_PASSWORD
E=$'\e'
CY="$E[36m" YE="$E[33m" RD="$E[31m" GR="$E[32m" BO="$E[1m" NO="$E[0m"

TARGETS="10.0.0.11 master-a prod-k8s-master
10.0.0.12 master-b staging-k8s-master"

# ask PROMPT [silent]: prints PROMPT, reads one line into REPLY.
ask() {
  # Terminal modes are set BEFORE the prompt is printed: input typed the instant the prompt
  # appears (a route step, a fast typist) must not be echoed by the tty.
  if [ "$MODE" = cr ]; then
    # Only CR ends the line (the tty passes CR through as CR); LF is ignored. Characters are
    # read one by one through dd (bash's own read -n forces ICRNL back on) and echoed here;
    # the tty stays in that mode for the whole menu (cr_mode), so nothing is echoed twice.
    printf '%s' "$1"
    REPLY=""
    local c
    while :; do
      c="$(dd bs=1 count=1 2>/dev/null; printf x)"
      c="${c%x}"
      case "$c" in
        "") exit 0 ;; # end of input: the connection is gone
        $'\r') break ;;
        $'\n') ;;
        $'\x7f' | $'\b') [ -n "$REPLY" ] && REPLY="${REPLY%?}" && [ "${2:-}" != silent ] && printf '\b \b' ;;
        *) REPLY+="$c"; [ "${2:-}" = silent ] || printf '%s' "$c" ;;
      esac
    done
    printf '\r\n'
  elif [ "${2:-}" = silent ]; then
    stty -echo
    printf '%s' "$1"
    IFS= read -r REPLY
    stty echo
    printf '\n'
  else
    printf '%s' "$1"
    IFS= read -r REPLY
  fi
  [ "${3:-}" = raw ] || REPLY="$(printf '%s' "$REPLY" | tr -d '[:space:]')"
}

banner() {
  printf '%s\n' "${CY}${BO}==========================================================${NO}"
  printf '%s\n' "${CY}${BO}   CMSM Bastion  -  authorized access only, all sessions recorded${NO}"
  printf '%s\n' "${CY}${BO}==========================================================${NO}"
  printf 'Enter a target IP (empty line lists targets, q quits).\n'
}

list_targets() {
  printf '%s\n' "${BO}  IP           HOST       ROLE${NO}"
  printf '%s\n' "$TARGETS" | while read -r ip host role; do printf '  %-12s %-10s %s\n' "$ip" "$host" "$role"; done
}

# CR-only Enter: the tty hands every byte through as is, and the menu echoes by itself.
cr_mode() { stty -icanon -echo -icrnl min 1 time 0; }
[ "$MODE" = cr ] && SAVED_TTY="$(stty -g)" && cr_mode
banner
while :; do
  ask "${YE}Target IP:${NO} "
  case "$REPLY" in
    "") list_targets; continue ;;
    q | Q | quit | exit) printf 'Bye.\n'; exit 0 ;;
  esac
  host="$(printf '%s\n' "$TARGETS" | awk -v ip="$REPLY" '$1 == ip { print $2 }')"
  if [ -z "$host" ]; then
    printf '%s\n' "${RD}No such target: $REPLY${NO} (empty line lists targets)"
    continue
  fi
  printf '%s\n' "Target ${GR}$host${NO} ($REPLY). Accounts:"
  printf '  1) ops      read-only\n  2) deploy   read-only\n  3) root     privileged\n  4) admin    privileged\n'
  while :; do
    ask "${YE}User number:${NO} "
    case "$REPLY" in
      1) role=ops priv=0 ;;
      2) role=deploy priv=0 ;;
      3) role=root priv=1 ;;
      4) role=admin priv=1 ;;
      *) printf '%s\n' "${RD}Invalid user number '$REPLY': choose 1-4${NO}"; continue ;;
    esac
    break
  done
  if [ "$priv" = 1 ]; then
    while :; do
      ask "Password: " silent raw
      [ "$REPLY" = "$PASSWORD" ] && break
      printf '%s\n' "${RD}Access denied${NO}"
    done
  fi
  printf 'Connecting to %s as %s ...\n' "$host" "$role"
  [ "$MODE" = cr ] && stty "$SAVED_TTY"
  mkdir -p "$D/home/$role"
  LAB_HOST="$host" LAB_ROLE="$role" bash --noprofile --rcfile "$S/master.bashrc" -i
  printf '\nConnection to %s closed.\n' "$host"
  [ "$MODE" = cr ] && cr_mode
done
