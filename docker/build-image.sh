#!/usr/bin/env bash
# Builds the Sluice docker image (default tag `sluice:local`) from binaries built on this machine;
# no base image is pulled (see docker/Dockerfile).
#
#   docker/build-image.sh             cargo build --release of mqnamesrv, mqbroker, mqadmin
#   docker/build-image.sh --debug     the same in the dev profile (faster to build)
#   MQNAMESRV_BIN=... MQBROKER_BIN=... MQADMIN_BIN=... docker/build-image.sh
#                                     use these already-built binaries (the docker test does)
#
# Environment: SLUICE_IMAGE (tag, default sluice:local), CARGO_TARGET_DIR (as cargo),
# DOCKER (the docker command, default docker).
set -euo pipefail
cd "$(dirname "$0")/.."

image="${SLUICE_IMAGE:-sluice:local}"
docker_cmd="${DOCKER:-docker}"
profile=release
for arg in "$@"; do
    case "$arg" in
        --debug) profile=debug ;;
        --release) profile=release ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "build-image.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

if [ -n "${MQNAMESRV_BIN:-}" ] || [ -n "${MQBROKER_BIN:-}" ] || [ -n "${MQADMIN_BIN:-}" ]; then
    : "${MQNAMESRV_BIN:?MQNAMESRV_BIN, MQBROKER_BIN and MQADMIN_BIN go together}"
    : "${MQBROKER_BIN:?MQNAMESRV_BIN, MQBROKER_BIN and MQADMIN_BIN go together}"
    : "${MQADMIN_BIN:?MQNAMESRV_BIN, MQBROKER_BIN and MQADMIN_BIN go together}"
else
    target_dir="${CARGO_TARGET_DIR:-target}"
    flags=()
    [ "$profile" = release ] && flags=(--release)
    echo "== cargo build ${flags[*]:-} (mqnamesrv, mqbroker, mqadmin)"
    cargo build "${flags[@]}" -p sluice-nameserver --bin mqnamesrv -p sluice-broker --bin mqbroker \
        -p sluice-client --bin mqadmin
    MQNAMESRV_BIN="$target_dir/$profile/mqnamesrv"
    MQBROKER_BIN="$target_dir/$profile/mqbroker"
    MQADMIN_BIN="$target_dir/$profile/mqadmin"
fi

ctx="$(mktemp -d "${TMPDIR:-/tmp}/sluice-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" \
    "$ctx/home/sluice/store" "$ctx/home/sluice/namesrv"
chmod 1777 "$root/tmp"

# The binaries, without debug info (a release build keeps line tables for backtraces on the host;
# the image only needs to run).
stage_bin() { # <source> <name in the image>
    local src="$1" dst="$root/usr/local/bin/$2"
    [ -x "$src" ] || { echo "build-image.sh: $src is not an executable" >&2; exit 1; }
    if command -v strip >/dev/null 2>&1; then
        strip --strip-debug -o "$dst" "$src"
    else
        cp "$src" "$dst"
    fi
    chmod 0755 "$dst"
}
stage_bin "$MQNAMESRV_BIN" mqnamesrv
stage_bin "$MQBROKER_BIN" mqbroker
stage_bin "$MQADMIN_BIN" mqadmin

# Exactly the shared objects the loader resolves for them, at the same paths (symlinks
# dereferenced). A statically linked binary adds nothing.
for bin in "$root"/usr/local/bin/*; do
    ldd "$bin" 2>/dev/null | awk '
        $2 == "=>" && $3 ~ /^\// { print $3 }
        $1 ~ /^\// { print $1 }' || true
done | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

# Name resolution (glibc >= 2.34 has files and dns built in) and the users the image knows.
cat > "$root/etc/nsswitch.conf" <<'NSS'
hosts: files dns
passwd: files
group: files
NSS
cat > "$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/sbin/nologin
sluice:x:10001:10001:sluice:/home/sluice:/sbin/nologin
PW
cat > "$root/etc/group" <<'GR'
root:x:0:
sluice:x:10001:
GR

# Legacy builder when BuildKit (buildx) is absent, as on the machines this was written on.
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! "$docker_cmd" buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
echo "== docker build -t $image ($(du -sh "$ctx" | cut -f1) context)"
if ! out="$("$docker_cmd" build -q -t "$image" -f docker/Dockerfile "$ctx" 2>&1)"; then
    echo "$out" >&2
    exit 1
fi
echo "built $image: $("$docker_cmd" image inspect -f '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1/1e6}')"
