#!/usr/bin/env bash
# Starts (or stops) a 3-master Redis Cluster on loopback ports for the
# cluster tests. Reuses a running one.
#
#   bash scripts/redis-cluster.sh start [first-port]   # default 7101: ports 7101-7103
#   bash scripts/redis-cluster.sh stop  [first-port]
#
# Prints the node list for AUTHD_TEST_REDIS_CLUSTER on start.
set -euo pipefail
cmd=${1:-start}
first=${2:-7101}
ports=("$first" "$((first + 1))" "$((first + 2))")
dir=${REDIS_CLUSTER_DIR:-/tmp/authd-redis-cluster-$first}

case "$cmd" in
stop)
  for p in "${ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$dir"
  exit 0
  ;;
start) ;;
*) echo "usage: $0 start|stop [first-port]" >&2; exit 2 ;;
esac

nodes=$(printf '127.0.0.1:%s,' "${ports[@]}")
nodes=${nodes%,}
if redis-cli -p "$first" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
  echo "$nodes"
  exit 0
fi
mkdir -p "$dir"
for p in "${ports[@]}"; do
  redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  # A fresh node: an old nodes.conf (a crashed cluster, a kept /tmp) would
  # make --cluster create refuse the node as "not empty".
  rm -rf "${dir:?}/$p"
  mkdir -p "$dir/$p"
  redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
    --cluster-node-timeout 2000 --save "" --appendonly no --dir "$dir/$p" --daemonize yes \
    --logfile "$dir/$p/redis.log" >/dev/null
done
for p in "${ports[@]}"; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
# --cluster-yes, not `yes | ...`: under pipefail, yes dies of SIGPIPE (141)
# when redis-cli exits, and the script would fail on a fresh machine.
redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 100); do
  redis-cli -p "$first" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && { echo "$nodes"; exit 0; }
  sleep 0.1
done
echo "redis cluster did not become ready" >&2
exit 1
