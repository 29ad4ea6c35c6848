#!/usr/bin/env bash
# measure.sh MODE [N] - times of the lab lifecycle on this machine, on a scratch lab (LAB=cgfl-m-MODE):
# install (no-op), up, N create/remove per engine through the CLIs the test helper uses, down.
set -euo pipefail
MODE=${1:?host|v2}; N=${2:-5}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LAB=cgfl-m-$MODE
now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
med() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
t=$(now); "$HERE/install.sh"; echo "install (present): $(ms $t) ms"
"$HERE/lab.sh" down $MODE 2>/dev/null
t=$(now); "$HERE/lab.sh" up $MODE 2>/dev/null; echo "up: $(ms $t) ms"
E=$("$HERE/lab.sh" env $MODE)
j() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval('d'+sys.argv[2]))" "$E" "$1"; }
NS=$(j "['nsenter']" | tr -d "[]',")
D="$(j "['docker']['cli']") -H $(j "['docker']['host']")"
C="ctr -a $(j "['containerd']['socket']") -n $LAB"
export CONTAINERS_CONF=$(j "['podman']['conf']")
P="$NS podman --root $(j "['podman']['root']") --runroot $(j "['podman']['runroot']") --tmpdir $(j "['podman']['tmpdir']")"
K='trap "exit 0" TERM; while :; do sleep 1; done'
CS=""; [ $MODE = v2 ] && CS="--cpu-shares 0"
for e in docker ctr podman; do
  c=(); r=()
  for i in $(seq $N); do
    t=$(now)
    case $e in
      docker) id=$($D run -d --network none bb:local sh -c "$K"); $D inspect -f '{{.State.Pid}}' $id >/dev/null ;;
      ctr) id=cgfl-m$i; $C run -d $CS --runc-root $(j "['containerd']['runcRoot']") docker.io/library/bb:local $id sh -c "$K" ;;
      podman) id=$($P run -d --network none localhost/bb:local sh -c "$K"); $P inspect -f '{{.State.Pid}}' $id >/dev/null ;;
    esac
    c+=($(ms $t)); t=$(now)
    case $e in
      docker) $D rm -f $id >/dev/null ;;
      ctr) $C t rm -f $id >/dev/null; $C c rm $id ;;
      podman) $P rm -f -t 0 $id >/dev/null ;;
    esac
    r+=($(ms $t))
  done
  echo "$e create median $(printf '%s\n' "${c[@]}" | med) ms [${c[*]}], remove median $(printf '%s\n' "${r[@]}" | med) ms [${r[*]}]"
done
t=$(now); "$HERE/lab.sh" down $MODE 2>/dev/null; echo "down: $(ms $t) ms"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
