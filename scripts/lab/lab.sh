#!/usr/bin/env bash
# lab.sh - throwaway container-engine lab for the cgfreeze tests (Debian 12, root, offline).
#
#   scripts/lab/lab.sh up      host|v2     start the lab (no-op when it is up)
#   scripts/lab/lab.sh down    host|v2     remove everything it made; safe twice and after a crash
#   scripts/lab/lab.sh env     host|v2     print the lab's paths as one JSON object (exit 1 if not up)
#   scripts/lab/lab.sh status  host|v2     exit 0 when up
#   scripts/lab/lab.sh lease   host|v2 PID up + register PID as a user of the lab
#   scripts/lab/lab.sh release host|v2 PID drop PID's lease; down when no live lease is left
#                                          (unless CGFREEZE_KEEP_LAB=1)
# Modes: host = this machine's layout as is (hybrid: v1 controllers + cgroup2 at /sys/fs/cgroup/unified);
#        v2   = private mount namespace with cgroup2 mounted over /sys/fs/cgroup (daemons live in it).
# Each lab has its own dockerd, containerd, runc roots, sockets and podman roots; name LAB (default
# <prefix>-<mode>, prefix CGFL_LAB_PREFIX or cgfl). Everything lives under /var/lib/$LAB and /run/$LAB; only PIDs recorded there are killed.
# Shared by nature: the v1 hierarchies (docker containers land in /docker/<id>, podman in
# /libpod_parent), podman's runc root /run/runc, shim sockets in /run/containerd/s (hash-named).
set -euo pipefail
CMD=${1:-}; CG=${2:-}
case "$CG" in host|v2) ;; *) echo "usage: $0 up|down|env|status|lease|release host|v2 [PID]" >&2; exit 2 ;; esac
LAB=${LAB:-${CGFL_LAB_PREFIX:-cgfl}-$CG}      # CGFL_LAB_PREFIX: a separate pair of labs (e.g. per worktree)
[[ "$LAB" =~ ^[a-z0-9][a-z0-9_.-]*$ ]] || { echo "bad LAB name: $LAB" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=/var/lib/$LAB; RUN=/run/$LAB
DSOCK=$RUN/docker.sock; CSOCK=$RUN/containerd.sock
DOCKER_CLI=/usr/bin/docker                 # CLI 20.10, same API as the packaged dockerd
DOCKER="$DOCKER_CLI -H unix://$DSOCK"
CTR="ctr -a $CSOCK"
PODMAN="podman --root $ROOT/podman --runroot $RUN/podman --tmpdir $RUN/podman-tmp"
export CONTAINERS_CONF=$ROOT/containers.conf
KEEP='trap "exit 0" TERM; while :; do sleep 1; done'   # sh as PID 1 ignores SIGTERM otherwise
UNIFIED=/sys/fs/cgroup/unified             # cgroup2 as the host namespace sees it
SUBTREE_ORIG=/run/lock/cgfl-unified-subtree.orig
other_v2_labs() {  # other cgfl-style labs in v2 mode that are up
  local m; for m in /run/*/mode; do
    [ "$m" != $RUN/mode ] && [ "$(cat $m 2>/dev/null)" = v2 ] && [ -f "${m%/mode}/ready" ] && echo "${m%/mode}"
  done; true
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
log() { echo "[lab $LAB] $*" >&2; }
cpid() { cat $RUN/containerd.pid 2>/dev/null || true; }
nsx() { if [ "$CG" = host ]; then "$@"; else nsenter -t "$(cpid)" -m -- "$@"; fi; }

is_up() {
  local p; p=$(cpid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null && [ -f $RUN/ready ] &&
    curl -sf --max-time 5 --unix-socket $DSOCK http://localhost/_ping >/dev/null 2>&1
}

write_configs() {
  mkdir -p $ROOT/log $RUN
  cat > $ROOT/containerd.toml <<EOF
version = 2
root = "$ROOT/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CSOCK"
[ttrpc]
  address = "$CSOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$ROOT/containerd/opt"
EOF
  echo '{}' > $ROOT/daemon.json           # never read /etc/docker/daemon.json
  # podman: runc (crun fails on hybrid), ulimits within the hard limits (no CAP_SYS_RESOURCE here),
  # no pids limit (v2: pids is bound to v1, pids.max does not exist)
  cat > $ROOT/containers.conf <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
pids_limit = 0
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  cat > $ROOT/inner.sh <<EOF
set -e
if [ $CG = v2 ] && [ "\$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  umount -R /sys/fs/cgroup               # drop the tmpfs and v1 mounts from this ns: one clean cgroup2 entry
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
fi
readlink /proc/self/ns/mnt > $RUN/mntns
containerd --config $ROOT/containerd.toml >$ROOT/log/containerd.log 2>&1 </dev/null &
echo \$! > $RUN/containerd.pid
for i in \$(seq 500); do [ -S $CSOCK ] && break; sleep 0.02; done
dockerd --config-file $ROOT/daemon.json --data-root $ROOT/docker --exec-root $RUN/docker \
  -H unix://$DSOCK --pidfile $RUN/docker.pid --containerd $CSOCK \
  --iptables=false --ip-masq=false --bridge=none \
  >$ROOT/log/dockerd.log 2>&1 </dev/null &
echo \$! > $RUN/dockerd.pid
EOF
}

build_image() {   # offline busybox image from the static busybox; docker import, then into ctr and podman
  rm -rf $ROOT/rootfs; mkdir -p $ROOT/rootfs/{bin,proc,sys,dev,etc,tmp,root}
  cp /bin/busybox $ROOT/rootfs/bin/busybox
  for a in $($ROOT/rootfs/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox $ROOT/rootfs/bin/$a; done
  echo 'root:x:0:0:root:/root:/bin/sh' > $ROOT/rootfs/etc/passwd; echo 'root:x:0:' > $ROOT/rootfs/etc/group
  tar -C $ROOT/rootfs -cf $ROOT/bb.tar .
  rm -rf $ROOT/rootfs
  local t podman_import; t=$(date +%s%N)
  nsx $PODMAN import -q $ROOT/bb.tar localhost/bb:local >/dev/null & podman_import=$!   # slowest: in parallel
  $DOCKER import -c 'ENV PATH=/bin' $ROOT/bb.tar bb:local >/dev/null
  $DOCKER save -o $ROOT/bb-save.tar bb:local
  log "docker import+save $(ms $t) ms"
  # the plain lab namespace and the Kubernetes-shaped one
  for ns in $LAB k8s.io; do $CTR -n $ns images import $ROOT/bb-save.tar >/dev/null; done
  log "ctr import $(ms $t) ms"
  wait $podman_import || { log "podman import failed"; return 1; }
}

up() {
  "$HERE/install.sh"
  if is_up; then return 0; fi
  if [ -d $RUN ] || [ -d $ROOT ]; then log "stale lab found; cleaning it first"; down; fi
  mkdir -p $RUN
  # the unified root's subtree_control before any v2 lab touched it (kept while one is up)
  [ $CG = v2 ] && [ -z "$(other_v2_labs)" ] && [ ! -f $SUBTREE_ORIG ] && cat $UNIFIED/cgroup.subtree_control > $SUBTREE_ORIG
  write_configs; echo $CG > $RUN/mode
  local t; t=$(date +%s%N)
  # 9>&-: the daemons must not inherit the lock
  if [ $CG = host ]; then setsid -w bash $ROOT/inner.sh 9>&-; else setsid -w unshare -m --propagation private bash $ROOT/inner.sh 9>&-; fi
  local deadline=$(( $(date +%s) + 180 ))    # dockerd needs ~0.5 s idle, 15 s and more on a loaded VM
  until curl -sf --unix-socket $DSOCK http://localhost/_ping >/dev/null 2>&1 || [ $(date +%s) -gt $deadline ]; do sleep 0.05; done
  curl -sf --unix-socket $DSOCK http://localhost/_ping >/dev/null || { log "dockerd not ready"; tail -20 $ROOT/log/dockerd.log >&2; exit 1; }
  log "containerd+dockerd ready: $(ms $t) ms"
  t=$(date +%s%N); build_image; log "image build+import: $(ms $t) ms"
  touch $RUN/ready
}

envinfo() {
  is_up || { log "not up"; exit 1; }
  local p nsenter='[]' mntns; p=$(cpid); mntns=$(cat $RUN/mntns)
  [ $CG = v2 ] && nsenter="[\"nsenter\",\"-t\",\"$p\",\"-m\",\"--\"]"
  cat <<EOF
{"name":"$LAB","mode":"$CG","root":"$ROOT","run":"$RUN","mntns":"$mntns","nsenter":$nsenter,
 "pids":{"containerd":$p,"dockerd":$(cat $RUN/dockerd.pid)},
 "cgroup":{"hostCgroup2":"$UNIFIED","hostFreezer":"/sys/fs/cgroup/freezer","labCgroupRoot":"/sys/fs/cgroup"},
 "docker":{"cli":"$DOCKER_CLI","host":"unix://$DSOCK","socket":"$DSOCK","dataRoot":"$ROOT/docker","execRoot":"$RUN/docker",
   "runcRoot":"$RUN/docker/runtime-runc","containerdNamespace":"moby","image":"bb:local"},
 "containerd":{"socket":"$CSOCK","root":"$ROOT/containerd","state":"$RUN/containerd",
   "taskDir":"$RUN/containerd/io.containerd.runtime.v2.task","runcRoot":"$RUN/runc","namespace":"$LAB",
   "image":"docker.io/library/bb:local"},
 "podman":{"root":"$ROOT/podman","runroot":"$RUN/podman","tmpdir":"$RUN/podman-tmp","conf":"$ROOT/containers.conf",
   "image":"localhost/bb:local"},
 "busyboxTar":"$ROOT/bb.tar","imageArchive":"$ROOT/bb-save.tar"}
EOF
}

killpid() {   # TERM, wait, KILL - only a PID we recorded
  local p=$1 w=${2:-15}; [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq $((w*10))); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}

# init PIDs of every task this lab's containerd runs (all namespaces: moby, $LAB, k8s.io, ...) and of podman
lab_pids() {
  # awk, not cat: init.pid has no trailing newline
  awk 1 $RUN/containerd/io.containerd.runtime.v2.task/*/*/init.pid $RUN/podman/overlay-containers/*/userdata/pidfile \
    2>/dev/null | grep -E '^[0-9]+$' || true
}

cg_mounts() {  # the host's cgroup mount points (v1 hierarchies and cgroup2)
  awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i+1) == "cgroup" || $(i+1) == "cgroup2") print $5; break } }' \
    /proc/self/mountinfo 2>/dev/null || true
}

task_cgroups() {  # "<mount>:<path>" of every hierarchy the given PIDs are in (their container dirs)
  local pid ctrl rel m
  for pid in "$@"; do
    while IFS=: read -r _ ctrl rel; do
      [ -z "$rel" ] || [ "$rel" = / ] && continue
      if [ -z "$ctrl" ]; then m=$UNIFIED; else m=/sys/fs/cgroup/${ctrl#name=}; fi
      [ -d "$m" ] && echo "$m:$rel"
    done < /proc/$pid/cgroup 2>/dev/null || true
  done | sort -u
}

thaw_cgroups() {  # a frozen task cannot die: thaw every frozen cgroup on the path of each "<mount>:<path>" in $1
  local line m rel st
  for line in $1; do
    m=${line%%:*}; rel=${line#*:}
    while [ -n "$rel" ]; do                    # builtins only: this runs before anything can be removed
      if [ -f "$m$rel/freezer.state" ]; then
        st=; read -r st < "$m$rel/freezer.state" 2>/dev/null || true
        [ "$st" = THAWED ] || { echo THAWED > "$m$rel/freezer.state"; } 2>/dev/null || true
      elif [ -f "$m$rel/cgroup.freeze" ]; then
        st=; read -r st < "$m$rel/cgroup.freeze" 2>/dev/null || true
        [ "$st" = 0 ] || { echo 0 > "$m$rel/cgroup.freeze"; } 2>/dev/null || true
      fi
      rel=${rel%/*}
    done
  done
}

our_pids() {  # shims name our containerd socket, conmon/podman our podman dirs; v2: anything in our mount ns
  local f pid ino=""
  for f in $(grep -lasF -e "$CSOCK" -e "$ROOT/podman/" -e "$RUN/podman" /proc/[0-9]*/cmdline 2>/dev/null || true); do
    pid=${f#/proc/}; pid=${pid%/cmdline}; [ "$pid" = $$ ] || echo $pid
  done
  if [ $CG = v2 ] && [ -f $RUN/mntns ]; then
    ino=$(cat $RUN/mntns); ino=${ino//[^0-9]/}
    stat -L -c '%i %n' /proc/[0-9]*/ns/mnt 2>/dev/null | awk -v i=$ino '$1==i{split($2,a,"/"); print a[3]}' || true
  fi
}

settle() {  # late processes (conmon's exit command, shim children) can appear after a pass: kill until quiet
  local quiet=0 i found=""
  for i in $(seq 150); do
    found=$(our_pids | sort -u | tr '\n' ' ')
    if [ -z "${found// }" ]; then quiet=$((quiet+1)); [ $quiet -ge 5 ] && return 0
    else quiet=0; kill -KILL $found 2>/dev/null || true; fi
    sleep 0.1
  done
  log "processes keep appearing: $found"; return 1
}

unmount_ours() {  # host-namespace mounts (overlay, podman's private bind of its store, netns), deepest first
  findmnt -rn -o TARGET | grep -E "^($ROOT|$RUN)(/|$)" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done || true
}

down() {
  [ -d $RUN ] || [ -d $ROOT ] || return 0
  local t; t=$(date +%s%N)
  local leftover cgdirs; leftover=$(lab_pids); cgdirs=$(task_cgroups $leftover)
  thaw_cgroups "$cgdirs"
  if [ -n "$(cpid)" ] && kill -0 "$(cpid)" 2>/dev/null; then
    local ids; ids=$(timeout 60 $DOCKER ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && { timeout 120 $DOCKER rm -f $ids >/dev/null 2>&1 || true; }
    for ns in $($CTR namespaces ls -q 2>/dev/null || true); do
      [ "$ns" = moby ] && continue
      for n in $($CTR -n $ns t ls -q 2>/dev/null || true); do $CTR -n $ns t kill -s KILL $n >/dev/null 2>&1 || true; done
      for n in $($CTR -n $ns c ls -q 2>/dev/null || true); do
        timeout 30 $CTR -n $ns t rm -f $n >/dev/null 2>&1 || true; $CTR -n $ns c rm $n >/dev/null 2>&1 || true
      done
    done
    if [ -d $ROOT/podman ]; then timeout 120 nsx $PODMAN rm -af -t 0 >/dev/null 2>&1 || true; fi
  fi
  log "containers removed: $(ms $t) ms"
  # the containers are gone: stop both daemons at once (each takes 1-2 s on TERM)
  killpid "$(cat $RUN/dockerd.pid 2>/dev/null || true)" 20 & killpid "$(cpid)" 20 & wait
  log "daemons stopped: $(ms $t) ms"
  # whatever survived: container processes (still in their container cgroup) and shims of THIS containerd
  local pid
  for pid in $leftover; do
    grep -qE ':/(docker|libpod_parent|kubepods|'"$LAB"')(/|$)|/[0-9a-f]{64}$' /proc/$pid/cgroup 2>/dev/null && kill -KILL $pid 2>/dev/null || true
  done
  local settled=0; settle || settled=1; unmount_ours
  log "processes gone: $(ms $t) ms"
  # cgroups: each lab task's own dirs and then their parents while empty (rmdir fails on a used one, so
  # shared parents like /docker stay while anything else is in them), then the fixed lab parents
  local line m rel cands=() labdirs=()
  for line in $cgdirs; do
    m=${line%%:*}; rel=${line#*:}
    while [ -n "$rel" ]; do cands+=("$m$rel"); rel=${rel%/*}; done
  done
  for m in $(cg_mounts); do
    for rel in kubepods/burstable kubepods/besteffort kubepods libpod_parent/conmon libpod_parent docker; do cands+=("$m/$rel"); done
    [ -d "$m/$LAB" ] && labdirs+=("$m/$LAB")
  done
  # one rmdir for all, deepest first; it goes on past the ones that are missing or in use
  printf '%s\n' "${cands[@]}" | sort -u | awk -F/ '{print NF "\t" $0}' | sort -t"$(printf '\t')" -k1,1rn | cut -f2 |
    xargs -r -d '\n' rmdir 2>/dev/null || true
  [ ${#labdirs[@]} -eq 0 ] || find "${labdirs[@]}" -depth -type d -exec rmdir {} + 2>/dev/null || true
  log "cgroups removed: $(ms $t) ms"
  # runc (v2 mode) wrote +hugetlb into subtree_control of the unified root and its parents: undo it when
  # the last cgfl v2 lab goes (the walk covers the whole shared tree, children first)
  if [ $CG = v2 ] && [ -z "$(other_v2_labs)" ] && [ -f $SUBTREE_ORIG ]; then
    if ! grep -q hugetlb $SUBTREE_ORIG; then
      find $UNIFIED -depth -type d 2>/dev/null | while read -r d; do
        sc=; read -r sc < $d/cgroup.subtree_control 2>/dev/null || true
        [[ "$sc" == *hugetlb* ]] && { echo -hugetlb > $d/cgroup.subtree_control; } 2>/dev/null || true
      done || true
    fi
    rm -f $SUBTREE_ORIG
  fi
  # conmon's exit command (`podman container cleanup`) can start late and mount the store again: retry
  for i in 1 2 3 4 5 6 7 8 9 10; do
    rm -rf --one-file-system $ROOT $RUN 2>/dev/null && break
    sleep 0.5; settle || true; unmount_ours
  done
  if [ -d $ROOT ] || [ -d $RUN ]; then log "could not remove all of $ROOT $RUN"; return 1; fi
  [ $settled = 0 ] || return 1
  log "down: $(ms $t) ms"
}

live_leases() {  # leases whose holder process still exists
  local f n=0
  for f in $RUN/leases/*; do [ -e "$f" ] || continue; kill -0 "${f##*/}" 2>/dev/null && n=$((n+1)) || rm -f "$f"; done
  echo $n
}

# up/down/lease/release of one lab are serialized across processes
mkdir -p /run/lock; exec 9>/run/lock/$LAB.lock
case "$CMD" in
  up) flock -w 900 9; up ;;
  down) flock -w 900 9; down ;;
  env) envinfo ;;
  status) is_up ;;
  lease) [[ "${3:-}" =~ ^[0-9]+$ ]] || { echo "lease needs a PID" >&2; exit 2; }
         flock -w 900 9; up; mkdir -p $RUN/leases; : > $RUN/leases/$3 ;;
  release) [[ "${3:-}" =~ ^[0-9]+$ ]] || { echo "release needs a PID" >&2; exit 2; }
           flock -w 900 9; rm -f $RUN/leases/$3
           if [ "${CGFREEZE_KEEP_LAB:-0}" != 1 ] && [ "$(live_leases)" = 0 ]; then down; fi ;;
  *) echo "usage: $0 up|down|env|status|lease|release host|v2 [PID]" >&2; exit 2 ;;
esac
