#!/usr/bin/env bash
# Install the system parts shipyard needs on a Debian/Ubuntu machine.
#
# Idempotent: every step first checks what is already there and does nothing
# when all is present, so a second run is a quick no-op.
#
#   1. Debian packages (only the missing ones; `apt-get update` only if needed):
#      docker.io, docker-registry, busybox-static, nginx-light, git, curl.
#      The nginx and docker-registry *system services* are kept from starting
#      (shipyard runs its own instances with its own configs; they would hold
#      :80 and :5000) and are disabled after install.
#   2. A Docker engine that answers: if `docker version` has no server part,
#      start dockerd in the background and wait for it.
#   3. The local base image shipyard/busybox:1 (nothing can be pulled here):
#      a static busybox plus applet symlinks, loaded from a tarball built with
#      fixed mtimes, owners and order, so the image ID is reproducible.
#
# Environment (all optional):
#   SHIPYARD_BASE_IMAGE   image to seed                 (shipyard/busybox:1)
#   SHIPYARD_DOCKERD_LOG  dockerd log when we start it  (/var/log/shipyard-dockerd.log)
#   SHIPYARD_DOCKER_WAIT  seconds to wait for dockerd   (60)
#   SOURCE_DATE_EPOCH     timestamp for the base image  (mtime of the busybox binary)
#
# Exit codes: 0 all present or done; 1 a step failed; 2 bad usage;
#             3 root needed (rerun with sudo); 4 no apt-get (install by hand).
set -euo pipefail

readonly BASE_IMAGE=${SHIPYARD_BASE_IMAGE:-shipyard/busybox:1}
readonly DOCKERD_LOG=${SHIPYARD_DOCKERD_LOG:-/var/log/shipyard-dockerd.log}
readonly DOCKER_WAIT=${SHIPYARD_DOCKER_WAIT:-60}
readonly SELF=$0
# The applets the base image must have; every other applet busybox knows is added too.
readonly REQUIRED_APPLETS="sh httpd mkdir echo cat test env sleep wget"

export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

SUMMARY=()
TMPDIRS=()
POLICY_RC_D_OURS=""

say()  { printf 'bootstrap: %s\n' "$*"; }
warn() { printf 'bootstrap: warning: %s\n' "$*" >&2; }
die()  { local code=$1; shift; printf 'bootstrap: error: %s\n' "$*" >&2; exit "$code"; }
note() { SUMMARY+=("$*"); }

cleanup() {
    if [[ -n $POLICY_RC_D_OURS ]]; then rm -f "$POLICY_RC_D_OURS"; fi
    local d
    for d in "${TMPDIRS[@]+"${TMPDIRS[@]}"}"; do rm -rf "$d"; done
}
trap cleanup EXIT

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p'
}

is_root() { [[ $(id -u) -eq 0 ]]; }

need_root() {
    is_root && return 0
    die 3 "$1 needs root. Run: sudo bash $SELF"
}

# ---------------------------------------------------------------- packages --

static_busybox() {
    # Print the path of a statically linked busybox, if there is one.
    local bb
    for bb in /bin/busybox /usr/bin/busybox; do
        [[ -x $bb ]] || continue
        # ldd fails ("not a dynamic executable") for a static binary.
        if ! LC_ALL=C ldd "$bb" >/dev/null 2>&1; then
            printf '%s\n' "$bb"
            return 0
        fi
    done
    return 1
}

have() { command -v "$1" >/dev/null 2>&1; }

missing_packages() {
    # One Debian package per missing part; a part counts as present when its
    # program is there, whichever package (or manual install) provided it.
    have dockerd || echo docker.io
    have docker-registry || have registry || echo docker-registry
    static_busybox >/dev/null || echo busybox-static
    have nginx || echo nginx-light
    have git || echo git
    have curl || echo curl
}

apt_has_candidate() {
    # The policy text is read whole, then searched in bash: a reader that stops
    # at the first match (awk ... exit) would SIGPIPE apt-cache under pipefail.
    local policy line cand=""
    policy=$(apt-cache policy "$1" 2>/dev/null) || true
    while IFS= read -r line; do
        if [[ $line == *Candidate:* ]]; then
            read -r _ cand _ <<<"$line"
            break
        fi
    done <<<"$policy"
    [[ -n $cand && $cand != "(none)" ]]
}

# Services that Debian packages start on install but shipyard runs itself,
# with its own configs: nginx (would take :80) and docker-registry (would take
# :5000 on all interfaces, with htpasswd auth).
readonly FOREIGN_SERVICES="nginx docker-registry"

install_policy_rc_d() {
    # Keep package scripts from starting those services during install.
    # Only if no policy is in place already; removed again on exit.
    local f=/usr/sbin/policy-rc.d
    [[ -e $f ]] && return 0
    cat >"$f" <<'EOF'
#!/bin/sh
# Temporary, written by shipyard scripts/bootstrap.sh; removed when it exits.
case "$1" in nginx|nginx.service|docker-registry|docker-registry.service) exit 101 ;; esac
exit 0
EOF
    chmod 0755 "$f"
    POLICY_RC_D_OURS=$f
}

systemd_running() { [[ -d /run/systemd/system ]]; }

service_pid() {
    # PID of the distribution's service instance, if it runs.
    local pidfile pid
    case $1 in
        nginx) pidfile=/run/nginx.pid ;;
        docker-registry) pidfile=/run/docker-registry.pid ;;
        *) return 1 ;;
    esac
    if [[ -r $pidfile ]]; then
        pid=$(tr -dc '0-9' <"$pidfile")
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then printf '%s\n' "$pid"; return 0; fi
    fi
    if [[ $1 == docker-registry ]]; then
        # Under systemd it runs without a pid file. All of pgrep's output is
        # taken, then its first line: `| head -n 1` could SIGPIPE pgrep.
        local pids
        pids=$(pgrep -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml') || return 1
        pid=${pids%%$'\n'*}
        [[ -n $pid ]] || return 1
        printf '%s\n' "$pid"
        return 0
    fi
    return 1
}

disable_service() {
    # Stop the service and keep it from starting at boot.
    local svc=$1 pid
    if systemd_running; then
        systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
    else
        if have update-rc.d; then update-rc.d "$svc" disable >/dev/null 2>&1 || true; fi
        if [[ -x /etc/init.d/$svc ]]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
    fi
    if [[ $svc == nginx ]] && service_pid nginx >/dev/null; then
        nginx -s quit >/dev/null 2>&1 || true
        sleep 1
    fi
    if pid=$(service_pid "$svc"); then
        die 1 "the $svc system service is still running (pid $pid); stop it: systemctl disable --now $svc"
    fi
}

warn_running_services() {
    local svc pid
    for svc in $FOREIGN_SERVICES; do
        if pid=$(service_pid "$svc"); then
            warn "the $svc system service runs (pid $pid); shipyard runs its own $svc instances and may clash on its port; stop it with: systemctl disable --now $svc"
        fi
    done
}

ensure_packages() {
    local missing=() pkgs=() p svc log
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} == 0)); then
        note "packages: all present (docker, docker-registry, static busybox, nginx, git, curl)"
        warn_running_services
        return 0
    fi
    if ! have apt-get; then
        {
            echo "bootstrap: error: no apt-get here (not Debian/Ubuntu). Install by hand:"
            for p in "${missing[@]}"; do
                case $p in
                    docker.io)       echo "  - Docker Engine (dockerd + docker CLI), e.g. docker-ce or moby-engine" ;;
                    docker-registry) echo "  - the CNCF distribution registry binary (docker-registry or registry); no service" ;;
                    busybox-static)  echo "  - a statically linked busybox at /bin/busybox or /usr/bin/busybox" ;;
                    nginx-light)     echo "  - nginx (the binary is enough; do not enable its system service)" ;;
                    *)               echo "  - $p" ;;
                esac
            done
            echo "then rerun: bash $SELF"
        } >&2
        exit 4
    fi
    need_root "installing ${missing[*]}"
    say "installing: ${missing[*]}"
    log=$(mktemp /tmp/shipyard-apt.XXXXXX)
    # needrestart (Ubuntu, some Debian) would prompt or complain; skip it.
    export NEEDRESTART_SUSPEND=1
    apt-get update >"$log" 2>&1 || { tail -n 20 "$log" >&2; die 1 "apt-get update failed (log: $log)"; }
    for p in "${missing[@]}"; do
        # Newer releases dropped the nginx-light flavour; plain nginx is fine.
        if [[ $p == nginx-light ]] && ! apt_has_candidate nginx-light; then p=nginx; fi
        pkgs+=("$p")
    done
    install_policy_rc_d
    apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; die 1 "apt-get install ${pkgs[*]} failed (log: $log)"; }
    rm -f "$log"
    for svc in $FOREIGN_SERVICES; do
        if [[ " ${pkgs[*]} " == *" $svc"* ]]; then disable_service "$svc"; fi
    done
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]} == 0)) || die 1 "still missing after apt-get install: ${missing[*]}"
    note "installed: ${pkgs[*]}"
}

# ------------------------------------------------------------------ engine --

DOCKER=""

pick_docker_client() {
    # The first docker on PATH; fall back to Debian's client.
    DOCKER=$(command -v docker || true)
    [[ -n $DOCKER ]] || DOCKER=/usr/bin/docker
    [[ -x $DOCKER ]] || die 1 "no docker client found (expected one on PATH or /usr/bin/docker)"
}

ENGINE_VERSION=""
ENGINE_ERR=""
engine_up() {
    # True when the engine answers; sets ENGINE_VERSION, or ENGINE_ERR (the
    # client's last line of complaint) when it does not.
    local out rc=0
    out=$(timeout 10 "$DOCKER" version --format '{{.Server.Version}}' 2>&1) || rc=$?
    if ((rc == 0)) && [[ -n $out ]]; then
        ENGINE_VERSION=$out
        return 0
    fi
    ENGINE_ERR=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)
    return 1
}

ensure_engine() {
    local started=""
    pick_docker_client
    if engine_up; then
        note "docker engine: already running ($ENGINE_VERSION)"
        return 0
    fi
    if [[ $ENGINE_ERR == *"permission denied"* ]]; then
        die 3 "no access to the Docker socket as $(id -un). Run: sudo bash $SELF (or add $(id -un) to the docker group)"
    fi
    if pgrep -x dockerd >/dev/null 2>&1; then
        say "dockerd is running but not answering yet; waiting up to ${DOCKER_WAIT}s"
    else
        need_root "starting the Docker engine"
        if systemd_running && systemctl start docker.service >/dev/null 2>&1; then
            started="started docker.service"
        else
            mkdir -p "$(dirname "$DOCKERD_LOG")"
            say "starting dockerd in the background (log: $DOCKERD_LOG)"
            setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
            started="started dockerd (log: $DOCKERD_LOG)"
        fi
    fi
    local deadline=$((SECONDS + DOCKER_WAIT))
    until engine_up; do
        if ((SECONDS >= deadline)); then
            die 1 "the Docker engine did not answer within ${DOCKER_WAIT}s (${ENGINE_ERR:-no answer}); see $DOCKERD_LOG"
        fi
        sleep 1
    done
    note "docker engine: ${started:-came up} ($ENGINE_VERSION)"
}

# -------------------------------------------------------------- base image --

json_str() {
    # Minimal JSON string escaping for the values we write (no control chars).
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}

build_rootfs() {
    local root=$1 bb=$2 applet
    umask 022
    mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/var/www"
    chmod 1777 "$root/tmp"
    chmod 0700 "$root/root"
    cp "$bb" "$root/bin/busybox"
    chmod 0755 "$root/bin/busybox"
    for applet in $("$bb" --list) $REQUIRED_APPLETS; do
        [[ $applet == busybox || -e $root/bin/$applet ]] && continue
        ln -s busybox "$root/bin/$applet"
    done
    for applet in $REQUIRED_APPLETS; do
        [[ -L $root/bin/$applet ]] || die 1 "busybox at $bb lacks the $applet applet"
    done
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
        'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
}

ensure_base_image() {
    if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        note "base image $BASE_IMAGE: present ($("$DOCKER" image inspect --format '{{.Id}}' "$BASE_IMAGE" | cut -c1-19))"
        return 0
    fi
    local bb work epoch created arch bbver layer_sum config_sum
    bb=$(static_busybox) || die 1 "no static busybox found; install busybox-static"
    work=$(mktemp -d /tmp/shipyard-base.XXXXXX)
    TMPDIRS+=("$work")
    build_rootfs "$work/rootfs" "$bb"

    epoch=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$bb")}
    created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
    arch=$("$DOCKER" version --format '{{.Server.Arch}}')
    # busybox's help text (2.7 KB) is captured whole and cut in bash: piped into
    # `head -n 1`, busybox got SIGPIPE on some runs and pipefail made that exit 141.
    bbver=$("$bb" 2>&1)
    bbver=${bbver%%$'\n'*}
    bbver=${bbver%% multi-call binary*}

    # Fixed order, mtimes and owners: the same busybox gives the same layer digest.
    mkdir -p "$work/image/layer"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
        --format=gnu -C "$work/rootfs" -cf "$work/image/layer/layer.tar" .
    layer_sum=$(sha256sum "$work/image/layer/layer.tar" | cut -d' ' -f1)

    # Load a docker-save style archive rather than `docker import`: import stamps
    # the current time into the image config, so its ID would differ on every run.
    printf '{"architecture":%s,"os":"linux","created":%s,"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"Labels":{"org.opencontainers.image.title":"shipyard base: static busybox","org.opencontainers.image.description":%s}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":%s,"created_by":%s}]}' \
        "$(json_str "$arch")" "$(json_str "$created")" "$(json_str "$bbver")" "$layer_sum" \
        "$(json_str "$created")" "$(json_str "shipyard scripts/bootstrap.sh: $bbver")" \
        >"$work/image/config.json"
    config_sum=$(sha256sum "$work/image/config.json" | cut -d' ' -f1)
    mv "$work/image/config.json" "$work/image/$config_sum.json"
    printf '[{"Config":"%s.json","RepoTags":[%s],"Layers":["layer/layer.tar"]}]' \
        "$config_sum" "$(json_str "$BASE_IMAGE")" >"$work/image/manifest.json"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
        -C "$work/image" -cf "$work/image.tar" .

    "$DOCKER" load -i "$work/image.tar" >/dev/null ||
        die 1 "docker load of the base image failed"
    "$DOCKER" run --rm --network none "$BASE_IMAGE" sh -c 'test -x /bin/httpd && echo ok' >/dev/null ||
        die 1 "seeded $BASE_IMAGE but it does not run"
    note "base image $BASE_IMAGE: seeded (sha256:${config_sum:0:12}, $bbver)"
}

# -------------------------------------------------------------------- main --

main() {
    case ${1:-} in
        "") ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    local t0=$SECONDS
    ensure_packages
    ensure_engine
    ensure_base_image
    say "done in $((SECONDS - t0))s"
    local line
    for line in "${SUMMARY[@]}"; do printf '  %s\n' "$line"; done
}

main "$@"
