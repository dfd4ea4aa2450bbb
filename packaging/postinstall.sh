#!/bin/sh
# The worker runs as the system user rewind, in the docker group: the socket is the only
# privilege it needs. Nothing is started: the configuration comes first.
set -e
if [ "$1" = configure ]; then
  if ! getent passwd rewind >/dev/null; then
    adduser --system --group --home /var/lib/rewind --no-create-home --quiet rewind
  fi
  if getent group docker >/dev/null; then
    adduser --quiet rewind docker
  fi
  chgrp rewind /etc/rewind/rewind.yaml
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
  fi
  echo "rewind: edit /etc/rewind/rewind.yaml, check it with 'rewind config check --config /etc/rewind/rewind.yaml', then: systemctl enable --now rewind-worker"
fi
