#!/usr/bin/env bash
# Cuts a container of the compose cluster off its network, or brings it back, for failover and
# partition experiments. The process keeps running; only its network goes away.
#
#   docker/partition.sh cut  <service>    e.g. docker/partition.sh cut broker-a
#   docker/partition.sh heal <service>    reconnects it with its fixed address
#
# Uses the project of the current directory (or COMPOSE_PROJECT_NAME) and SLUICE_NET as
# docker-compose.yml does.
set -euo pipefail
cd "$(dirname "$0")/.."
. docker/lib.sh

usage() { echo "usage: $0 cut|heal <service>" >&2; exit 2; }
[ $# -eq 2 ] || usage
action="$1" service="$2"
net_prefix="${SLUICE_NET:-172.28.87}"
case "$service" in
    namesrv1) host=11 ;; namesrv2) host=12 ;;
    broker-a) host=21 ;; broker-a-s) host=22 ;;
    broker-b) host=31 ;; broker-b-s) host=32 ;;
    *) echo "unknown service $service" >&2; exit 2 ;;
esac
id="$(compose ps -q "$service")"
[ -n "$id" ] || { echo "service $service has no container" >&2; exit 1; }
# The network compose created for this project: the one the project's containers are attached to
# whose name ends in _sluice.
network="$(docker network ls --filter "label=com.docker.compose.network=sluice" \
    --filter "label=com.docker.compose.project=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.project"}}' "$id")" \
    --format '{{.Name}}' | head -n1)"
[ -n "$network" ] || { echo "cannot find the project's sluice network" >&2; exit 1; }
case "$action" in
    cut) docker network disconnect --force "$network" "$id" ;;
    heal) docker network connect --ip "$net_prefix.$host" "$network" "$id" ;;
    *) usage ;;
esac
echo "$action $service ($network)"
