#!/usr/bin/env bash
# The Rewind demo: embedded Temporal with its Web UI, a worker, the AlgoTrendy demo stack
# with a backup and a corrupted database, and a P2 full rollback through the rewind CLI:
# alice (on-call) asks, bob (senior engineer) approves. `examples/demo.sh guard` shows the
# guard instead: v2.6 is deployed from a git checkout, starts answering 500s, and the guard
# rolls it back to v2.5 on its own. `examples/demo.sh stop` ends either.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.rewind
mkdir -p "$state" bin
mode=${1:-full}

stop() {
  for p in worker devserver ssh-agent; do
    if [ -f "$state/$p.pid" ] && kill -0 "$(cat "$state/$p.pid")" 2>/dev/null; then
      kill "$(cat "$state/$p.pid")" && echo "stopped $p"
    fi
    rm -f "$state/$p.pid"
  done
  rm -f "$state/agent.sock"
}
case "$mode" in
  stop) stop; exit 0 ;;
  full|guard) ;;
  *) echo "usage: examples/demo.sh [full|guard|stop]" >&2; exit 2 ;;
esac

echo "==> building rewind, worker and devserver (the first build of the embedded Temporal server takes several minutes)"
go build -o bin/rewind ./starter
CGO_ENABLED=0 go build -o bin/worker ./worker   # static: it is also the mover it runs in helper containers
go build -o bin/devserver ./devserver

if (exec 3<>/dev/tcp/127.0.0.1/7233) 2>/dev/null; then
  echo "==> Temporal already answers on 127.0.0.1:7233; using it"
else
  echo "==> starting Temporal + Web UI (data in $state/temporal.db, log in $state/devserver.log)"
  bin/devserver --db "$state/temporal.db" >"$state/devserver.log" 2>&1 &
  echo $! >"$state/devserver.pid"
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/7233) 2>/dev/null && break; sleep 0.1; done
fi

# Signatures are required, as in production: everyone in the policy gets an SSH key made
# now, held by an ssh-agent of the demo's own, through which the rewind CLI signs.
echo "==> making SSH keys for alice, bob and the guard, and an ssh-agent holding alice's and bob's"
keys="$state/keys"
rm -rf "$keys" && mkdir -p "$keys"
for who in alice bob rewind-guard; do
  ssh-keygen -q -t ed25519 -N "" -C "$who@rewind-demo" -f "$keys/$who"
done
if [ -f "$state/ssh-agent.pid" ] && kill -0 "$(cat "$state/ssh-agent.pid")" 2>/dev/null; then kill "$(cat "$state/ssh-agent.pid")"; fi
rm -f "$state/agent.sock"
agent_out=$(ssh-agent -s -a "$PWD/$state/agent.sock")
agent_pid=$(printf '%s\n' "$agent_out" | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
echo "$agent_pid" >"$state/ssh-agent.pid"
export SSH_AUTH_SOCK="$PWD/$state/agent.sock"
ssh-add -q "$keys/alice" "$keys/bob"
pub() { cat "$keys/$1.pub"; }

compose_file="$PWD/examples/algotrendy/docker-compose.prod.yml"
working_dir="$PWD/examples/algotrendy"
guard_yaml=""
guard_approver=""
if [ "$mode" = guard ]; then
  # The runbook's server keeps the stack in a git checkout with a tag per release.
  checkout="$state/checkout"
  rm -rf "$checkout" && mkdir -p "$checkout"
  g() { git -C "$checkout" -c user.name="AlgoTrendy Deploy" -c user.email=deploy@algotrendy.local "$@"; }
  g init -q
  sed 's/${API_TAG:-v2.6-prod}/v2.5/' "$compose_file" >"$checkout/docker-compose.prod.yml"
  g add . && g commit -qm "AlgoTrendy v2.5" && g tag v2.5
  sed 's/${API_TAG:-v2.6-prod}/v2.6-prod/' "$compose_file" >"$checkout/docker-compose.prod.yml"
  g commit -qam "AlgoTrendy v2.6" && g tag v2.6
  compose_file="$PWD/$checkout/docker-compose.prod.yml"
  working_dir="$PWD/$checkout"
  # The demo waits seconds, not the runbook's 30 s: 500s count once they last 9 s (four samples).
  guard_yaml="    guard: {interval: 3s, window: 10m, option: quick, criteria: [{measure: error_ratio, above: 0.8, class: critical, for: 9s}, {measure: memory_growth, above: 10, class: critical}, {measure: lost_connection, above: 0, class: critical}, {measure: latency_ratio, above: 1.5, class: major, for: 15s}, {measure: error_ratio, above: 0, class: minor}]}"
  guard_approver="  - {name: rewind-guard, role: on-call, keys: [\"$(pub rewind-guard)\"]}   # the guard acts, and signs, as itself"
fi

cat >"$state/demo.yaml" <<YAML
temporal: {address: 127.0.0.1:7233, ui_url: "http://127.0.0.1:8233"}
worker: {host: demo-host, listen: "127.0.0.1:9464", guard_key: "$PWD/$keys/rewind-guard"}
evidence: {dir: "$PWD/$state/evidence"}
policy: {require_signatures: true}
stacks:
  prod:
    project: algotrendy_v26
    compose_files: ["$compose_file"]
    working_dir: "$working_dir"
    services: [api, questdb]
    volumes: [algotrendy_v26_questdb_data]
    stop_grace_period: 10s
    backups: {dir: "$PWD/$state/backups", pattern: "questdb_backup_*.tar.gz", require_checksum: true}
    checks:
      health_url: http://127.0.0.1:5002/health
      health_expect: Healthy
      database_url: http://127.0.0.1:9000
      data_query: SELECT COUNT(*) FROM market_data
      fingerprint_query: SELECT COUNT(*), SUM(price), SUM(volume) FROM market_data
      functional_url: http://127.0.0.1:5002/api/market-data/binance/btcusdt
      logs_must_have: ["Connected to Binance"]
      logs_must_lack: ["(?i)panic"]
      health_timeout: 2m
$guard_yaml
approvers:
  - {name: alice, role: on-call, keys: ["$(pub alice)"]}
  - {name: bob, role: senior, keys: ["$(pub bob)"]}
$guard_approver
YAML

echo "==> building the demo images (FROM scratch, nothing is pulled) and starting the AlgoTrendy stack"
go build -o bin/democtl ./examples/algotrendy/democtl
bin/democtl build
bin/democtl --project algotrendy_v26 down >/dev/null 2>&1 || true   # a fresh stack on every run
bin/democtl --project algotrendy_v26 up
echo "==> a day of trading: the market database starts empty and gets its data from democtl seed"
bin/democtl --project algotrendy_v26 seed
if [ "$mode" = full ]; then
  echo "==> nightly backup, in the runbook's layout with a sha256sum sidecar and the data's fingerprint"
  bin/democtl --project algotrendy_v26 --backups "$state/backups" backup
else
  docker image tag algotrendy-api:v2.6-prod algotrendy-api:v2.5   # the release before, as the registry would have it
fi

if [ -f "$state/worker.pid" ] && kill -0 "$(cat "$state/worker.pid")" 2>/dev/null; then kill "$(cat "$state/worker.pid")"; sleep 1; fi
echo "==> starting the worker (log in $state/worker.log)"
bin/rewind --config "$state/demo.yaml" config check | sed 's/^/    /'
echo "    signatures are required (policy.require_signatures: true): every start and decision is signed"
echo "    with the person's SSH key, here through the demo's ssh-agent ($SSH_AUTH_SOCK)."
bin/worker --config "$state/demo.yaml" >"$state/worker.log" 2>&1 &
echo $! >"$state/worker.pid"
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:9464/healthz >/dev/null 2>&1 && break; sleep 0.1; done

rewind() { bin/rewind --config "$state/demo.yaml" "$@"; }
if [ "$mode" = full ]; then
  echo "==> Rewind's own backup while the stack serves: the database held still, stored whole, re-read"
  rewind backup --stack prod --wait --as alice --reason "demo: before the incident"
  if rewind drill --help >/dev/null 2>&1; then
    echo "==> a restore drill proves it: restored aside, the database started on it, its data counted"
    rewind drill --stack prod --wait --as alice
  fi
  echo "==> the stack's backups, their drills, and what a full rollback would lose now"
  rewind backups --stack prod
  echo "==> the incident: the market database gets corrupted"
  bin/democtl --project algotrendy_v26 corrupt
  for _ in $(seq 1 50); do
    health=$(curl -s http://127.0.0.1:5002/health || true)
    case "$health" in Unhealthy*) break ;; esac
    sleep 0.2
  done
  echo "    api /health says: $health"
fi
if [ "$mode" = guard ]; then
  echo "==> the deploy script says v2.6 is out: Rewind backs the stack up first, then the guard watches it (every 3 s, for 10 min)"
  rewind deployed --stack prod --version v2.6 --as alice
  echo "==> three quiet samples set the latency baseline"
  sleep 10
  rewind status rewind-prod-guard
  echo "==> v2.6 starts answering 500s"
  curl -fsS -X POST "http://127.0.0.1:5002/admin/misbehave?mode=500s"
  for _ in $(seq 1 100); do rewind status rewind-prod >/dev/null 2>&1 && break; sleep 0.2; done
  echo "==> the guard saw it and started a P1 quick rollback as itself"
  rewind watch rewind-prod
  echo
  echo "    the api now runs: $(docker ps --filter label=com.docker.compose.service=api --filter label=com.docker.compose.project=algotrendy_v26 --format '{{.Image}}')"
  echo
  rewind status rewind-prod
  echo
  echo "The whole incident report: bin/rewind --config $state/demo.yaml report rewind-prod"
  echo "Web UI: http://127.0.0.1:8233/namespaces/default/workflows/rewind-prod-guard"
  echo "Temporal and the Web UI keep running; stop them with: make demo-stop"
  exit 0
fi
echo "==> alice (on-call engineer) starts a P2 full rollback with database restore, signed with her key"
started=$SECONDS
rewind start full --stack prod --severity P2 --reason "demo: market_data corrupted after the v2.6 deploy" --as alice
echo "==> bob (senior engineer) approves it, as the runbook's P2 rule asks, signed with his key"
rewind approve rewind-prod --as bob --reason "backup checked, go"
echo "==> watching the rollback"
rewind watch rewind-prod
echo
echo "    api /health now says: $(curl -s http://127.0.0.1:5002/health)"
echo
echo "==> done in $((SECONDS - started)) s from alice's request, bob's approval included: what ran, what was restored, what was checked"
rewind status rewind-prod
echo
echo "The whole incident report: bin/rewind --config $state/demo.yaml report rewind-prod"
echo "Incident report and evidence: $state/evidence/incidents/$(date -u +%Y%m%d)/rewind-prod/<run>/"
echo "Web UI: http://127.0.0.1:8233/namespaces/default/workflows/rewind-prod"
echo "Temporal and the Web UI keep running; stop them with: make demo-stop"
