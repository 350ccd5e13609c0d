# Shared by docker/*.sh (sourced, not run). Expects the repository root as working directory.

# `docker compose` (v2 plugin) when present, else `docker-compose` (v1).
compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose "$@"
    else
        echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
        return 1
    fi
}

# Waits up to $1 seconds until every container of the project reports a healthy health check;
# fails early, with the logs, when one exits or turns unhealthy.
wait_healthy() {
    local deadline=$((SECONDS + ${1:-120})) ids id state pending
    ids="$(compose ps -q)"
    [ -n "$ids" ] || { echo "no containers: is the cluster up?" >&2; return 1; }
    while :; do
        pending=0
        for id in $ids; do
            state="$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")"
            case "$state" in
                *" running healthy") ;;
                *" running starting"|*" created "*) pending=1 ;;
                *)
                    echo "container not healthy: $state" >&2
                    compose logs --tail=50 >&2 || true
                    return 1 ;;
            esac
        done
        [ "$pending" = 0 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out waiting for health checks:" >&2
            compose ps >&2 || true
            return 1
        fi
        sleep 1
    done
}
