# The master host's shell (ssh-mcp lab): its own prompt and a fake kubectl on PATH.
export PATH="$LAB_SCRIPTS/bin:$PATH"
export HOME="$LAB_DIR/home/$LAB_ROLE"
export HISTFILE="$HOME/.bash_history"
cd "$HOME" || true
if [ "${LAB_MODE:-}" = ansi ]; then
  # A prompt redrawn with ANSI codes: clear line, colors, bold, as fancy prompts do.
  PROMPT_COMMAND='printf "\033[2K\r"'
  PS1='\[\e[1;32m\][${LAB_ROLE}@${LAB_HOST}\[\e[0m\] \[\e[1;34m\]\W\[\e[0m\]]# '
else
  PS1='[${LAB_ROLE}@${LAB_HOST} \W]# '
fi
