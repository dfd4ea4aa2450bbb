#!/usr/bin/env bash
# The Rewind demo: embedded Temporal with its Web UI, a worker, the AlgoTrendy demo stack,
# and an emergency stop of it through the rewind CLI. `examples/demo.sh stop` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.rewind
mkdir -p "$state" bin

stop() {
  for p in worker devserver; do
    if [ -f "$state/$p.pid" ] && kill -0 "$(cat "$state/$p.pid")" 2>/dev/null; then
      kill "$(cat "$state/$p.pid")" && echo "stopped $p"
    fi
    rm -f "$state/$p.pid"
  done
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

echo "==> building rewind, worker and devserver (the first build of the embedded Temporal server takes several minutes)"
go build -o bin/rewind ./starter
go build -o bin/worker ./worker
go build -o bin/devserver ./devserver

if (exec 3<>/dev/tcp/127.0.0.1/7233) 2>/dev/null; then
  echo "==> Temporal already answers on 127.0.0.1:7233; using it"
else
  echo "==> starting Temporal + Web UI (data in $state/temporal.db, log in $state/devserver.log)"
  bin/devserver --db "$state/temporal.db" >"$state/devserver.log" 2>&1 &
  echo $! >"$state/devserver.pid"
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/7233) 2>/dev/null && break; sleep 0.1; done
fi

cat >"$state/demo.yaml" <<YAML
temporal: {address: 127.0.0.1:7233, ui_url: "http://127.0.0.1:8233"}
worker: {host: demo-host, listen: "127.0.0.1:9464"}
evidence: {dir: "$PWD/$state/evidence"}
stacks:
  prod:
    project: algotrendy_v26
    compose_files: ["$PWD/examples/algotrendy/docker-compose.prod.yml"]
    working_dir: "$PWD/examples/algotrendy"
    services: [api, questdb]
    volumes: [algotrendy_v26_questdb_data]
    stop_grace_period: 10s
approvers:
  - {name: alice, role: on-call}
  - {name: bob, role: senior}
YAML

echo "==> building the demo images (FROM scratch, nothing is pulled) and starting the AlgoTrendy stack"
go run ./examples/algotrendy/democtl build
go run ./examples/algotrendy/democtl --project algotrendy_v26 up

if [ -f "$state/worker.pid" ] && kill -0 "$(cat "$state/worker.pid")" 2>/dev/null; then kill "$(cat "$state/worker.pid")"; sleep 1; fi
echo "==> starting the worker (log in $state/worker.log)"
bin/worker --config "$state/demo.yaml" >"$state/worker.log" 2>&1 &
echo $! >"$state/worker.pid"
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:9464/healthz >/dev/null 2>&1 && break; sleep 0.1; done

echo "==> alice (on-call) starts a P1 emergency stop of prod"
bin/rewind --config "$state/demo.yaml" start emergency --stack prod --severity P1 \
  --reason "demo: memory leak is taking the host down" --as alice --wait
echo
bin/rewind --config "$state/demo.yaml" status prod
echo
echo "Evidence: $state/evidence/incidents/"
echo "Temporal and the Web UI keep running (http://127.0.0.1:8233); stop them with: make demo-stop"
