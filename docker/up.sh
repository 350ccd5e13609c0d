#!/usr/bin/env bash
# The one command: builds the image `sluice:local` from this checkout (release binaries; pass
# --debug for a faster dev build), starts docker-compose.yml's 2m-2s cluster in the background,
# waits until every container is healthy and prints the cluster.
#
#   docker/up.sh [--debug]
#   docker-compose down -v        # (or `docker compose down -v`) stops it and drops the stores
set -euo pipefail
cd "$(dirname "$0")/.."
. docker/lib.sh

docker/build-image.sh "$@"
echo "== compose up -d"
compose up -d
echo "== waiting for the health checks"
wait_healthy 180
compose exec -T namesrv1 mqadmin clusterList -n 127.0.0.1:9876
cat <<MSG
Cluster up. NameServers: 127.0.0.1:${SLUICE_NAMESRV1_PORT:-9876} and 127.0.0.1:${SLUICE_NAMESRV2_PORT:-9877} from this host,
${SLUICE_NET:-172.28.87}.11:9876;${SLUICE_NET:-172.28.87}.12:9876 from containers (and from this host).
MSG
