#!/bin/sh
# A removed worker stops first: systemd drains the step it runs (SIGTERM).
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl disable --now rewind-worker >/dev/null 2>&1 || true
fi
