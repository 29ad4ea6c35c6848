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
  # the plain lab namespace and the Kubernetes-shaped one
  log "docker import+save $(ms $t) ms"
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
  for i in $(seq 600); do curl -sf --unix-socket $DSOCK http://localhost/_ping >/dev/null 2>&1 && break; sleep 0.05; done
  curl -sf --unix-socket $DSOCK http://localhost/_ping >/dev/null || { log "dockerd not ready"; tail -20 $ROOT/log/dockerd.log >&2; exit 1; }
  log "containerd+dockerd ready: $(ms $t) ms"
  t=$(date +%s%N); build_image; log "image build+import: $(ms $t) ms"
  touch $RUN/ready
}

json_str() { printf '"%s"' "$1"; }

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
  { cat $RUN/containerd/io.containerd.runtime.v2.task/*/*/init.pid 2>/dev/null | tr -s ' ' '\n'; echo;
    cat $RUN/podman/overlay-containers/*/userdata/pidfile 2>/dev/null; echo; } | grep -E '^[0-9]+$' || true
}

thaw_lab() {  # a frozen task cannot die: thaw every frozen cgroup on the path of each lab task
  local pid rel d
  for pid in $(lab_pids); do
    [ -r /proc/$pid/cgroup ] || continue
    rel=$(awk -F: '$2=="freezer"{print $3}' /proc/$pid/cgroup 2>/dev/null || true)
    d=/sys/fs/cgroup/freezer$rel
    while [ -n "$rel" ] && [ "$rel" != / ] && [ -f $d/freezer.state ]; do
      [ "$(cat $d/freezer.state)" = THAWED ] || echo THAWED > $d/freezer.state 2>/dev/null || true
      rel=$(dirname "$rel"); d=/sys/fs/cgroup/freezer$rel
    done
    rel=$(sed -n 's/^0:://p' /proc/$pid/cgroup 2>/dev/null || true)
    d=$UNIFIED$rel
    while [ -n "$rel" ] && [ "$rel" != / ] && [ -f $d/cgroup.freeze ]; do
      [ "$(cat $d/cgroup.freeze)" = 0 ] || echo 0 > $d/cgroup.freeze 2>/dev/null || true
      rel=$(dirname "$rel"); d=$UNIFIED$rel
    done
  done
}

down() {
  [ -d $RUN ] || [ -d $ROOT ] || return 0
  local t; t=$(date +%s%N)
  thaw_lab
  local leftover; leftover=$(lab_pids)
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
  # one grep over all command lines: shims name our containerd socket, conmon our podman dirs
  for f in $(grep -lasF -e "$CSOCK" -e "$ROOT/podman/" -e "$RUN/podman" /proc/[0-9]*/cmdline 2>/dev/null || true); do
    pid=${f#/proc/}; pid=${pid%/cmdline}; [ "$pid" = $$ ] || kill -KILL $pid 2>/dev/null || true
  done
  # host-namespace mounts (overlay, podman's private bind of its store, netns); the v2 ns dies with its last process
  findmnt -rn -o TARGET | grep -E "^($ROOT|$RUN)(/|$)" | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done || true
  if [ $CG = v2 ] && [ -f $RUN/mntns ]; then
    local ns; ns=$(cat $RUN/mntns)
    local ino=${ns//[^0-9]/} alive=""
    for i in $(seq 50); do
      alive=$(stat -L -c '%i %n' /proc/[0-9]*/ns/mnt 2>/dev/null | awk -v i=$ino '$1==i{split($2,a,"/"); print a[3]}' || true)
      [ -z "$alive" ] && break
      [ $i = 50 ] && { log "WARN still in the lab mount ns: $alive; killing"; for p in $alive; do kill -KILL $p 2>/dev/null || true; done; }
      sleep 0.1
    done
  fi
  log "processes gone: $(ms $t) ms"
  # cgroups: the ctr namespace parents (/$LAB, /k8s.io), and shared parents when empty (rmdir fails otherwise)
  local h
  for h in /sys/fs/cgroup/*/ $UNIFIED/; do
    [ -d "$h" ] || continue
    for sub in "$LAB" k8s.io kubepods libpod_parent docker; do
      [ -d "$h$sub" ] && { find "$h$sub" -depth -type d -exec rmdir {} \; 2>/dev/null || true; }
    done
  done
  # runc (v2 mode) wrote +hugetlb into subtree_control of the unified root and its parents: undo it when
  # the last cgfl v2 lab goes (the walk covers the whole shared tree, children first)
  if [ $CG = v2 ] && [ -z "$(other_v2_labs)" ] && [ -f $SUBTREE_ORIG ]; then
    if ! grep -q hugetlb $SUBTREE_ORIG; then
      find $UNIFIED -depth -type d 2>/dev/null | while read -r d; do
        grep -q hugetlb $d/cgroup.subtree_control 2>/dev/null && { echo -hugetlb > $d/cgroup.subtree_control; } 2>/dev/null || true
      done || true
    fi
    rm -f $SUBTREE_ORIG
  fi
  rm -rf --one-file-system $ROOT $RUN
  [ -d $ROOT ] || [ -d $RUN ] && log "WARN could not remove all of $ROOT $RUN"
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
