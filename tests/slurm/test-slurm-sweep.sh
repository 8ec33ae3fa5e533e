#!/bin/bash
# test-slurm-sweep.sh - pipelines/index-archive.sbatch on a real Slurm
# cluster that this test starts and stops itself: munged, slurmctld and two
# slurmd (nodes n1, n2) on one machine, loopback only, free ports, all
# state under one temporary folder, stopped by PID whatever happens.
#
#   1. a one-machine sweep of a small archive (tests/e2e/make-archive.sh:
#      12 videos, one long, and a broken file) is the reference;
#   2. a 4-task array sweeps the same archive; task 1 is cancelled
#      (scancel) while it indexes its long file, after its first file;
#      the cancelled file must have left no shard (no half shard);
#   3. the array is resubmitted: every finished file is skipped;
#   4. the result must equal the reference file for file, byte for byte
#      (manifest, every .npy and .jsonl), with no row lost or duplicated,
#      no *.part left, and the broken file reported by its task (FAILED).
#
# Exit 77 (meson's "skipped", with the reason on stdout) only when Slurm's
# or munge's programs are missing or the test is not root (munged must run
# as user munge); every wait is bounded.
# Usage: test-slurm-sweep.sh SOURCE_ROOT CLIP_TOOL
set -euo pipefail
root=$1
clip_tool=$2

skip () { echo "SKIP: $*"; exit 77; }
for prog in munged slurmctld slurmd sbatch squeue scancel scontrol sinfo \
    setpriv ss; do
  command -v "$prog" >/dev/null 2>&1 ||
    skip "'$prog' not found: install slurmctld slurmd slurm-client munge" \
      "(scripts/install-deps.sh --dev)"
done
[ "$(id -u)" -eq 0 ] || skip "needs root, to run munged as user munge"
id munge >/dev/null 2>&1 || skip "no 'munge' user (reinstall munge)"

D=$(mktemp -d /tmp/slurm-test-XXXXXX)
chmod 755 "$D"
pids=()
stop_all () {
  local pid i
  # newest first: the slurmd, slurmctld, then munged
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP_SLURM_TEST:-}" ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap stop_all EXIT
fail () {
  echo "FAIL: $*" >&2
  for f in "$D"/log/*.log "$D"/out/*.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}
# wait_for SECONDS WHAT COMMAND...: polls every 0.1 s
wait_for () {
  local limit=$1 what=$2 i
  shift 2
  for ((i = 0; i < limit * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "timed out after $limit s waiting for $what"
}

# ports: three in a row that nothing listens on
port=""
for try in $(seq 20); do
  p=$((20000 + (RANDOM % 20000)))
  if ! ss -ltnH | awk '{print $4}' | grep -qE ":($p|$((p + 1))|$((p + 2)))\$"; then
    port=$p
    break
  fi
done
[ -n "$port" ] || fail "no free ports"

# ------------------------------------------------------------ munge --
mkdir -p "$D/munge" "$D/log" "$D/state" "$D/spool/n1" "$D/spool/n2" "$D/out"
dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$D/munge"
chmod 700 "$D/munge"
chmod 400 "$D/munge/munge.key"
chmod 755 "$D/munge"
setpriv --reuid=munge --regid=munge --clear-groups munged --foreground \
  --socket="$D/munge/munge.socket" --key-file="$D/munge/munge.key" \
  --log-file="$D/munge/munged.log" --pid-file="$D/munge/munged.pid" \
  --seed-file="$D/munge/munged.seed" > "$D/log/munged.out" 2>&1 &
pids+=($!)
wait_for 10 "munged" test -S "$D/munge/munge.socket"

# ------------------------------------------------------------ slurm --
mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
cat > "$D/slurm.conf" <<CONF
ClusterName=gstcliptest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd-%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
MinJobAge=300
NodeName=n[1-2] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[$((port + 1))-$((port + 2))] CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=$((mem * 9 / 10))
PartitionName=test Nodes=n[1-2] Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$D/slurm.conf
slurmctld -D -c -f "$SLURM_CONF" > "$D/log/slurmctld.out" 2>&1 &
pids+=($!)
for n in n1 n2; do
  slurmd -D -N "$n" -f "$SLURM_CONF" > "$D/log/slurmd-$n.out" 2>&1 &
  pids+=($!)
done
nodes_idle () { [ "$(sinfo -h -N -o '%t' | grep -c '^idle')" -eq 2 ]; }
wait_for 30 "slurmctld" scontrol ping
wait_for 30 "both nodes idle" nodes_idle
echo "cluster up: slurmctld on 127.0.0.1:$port, slurmd n1/n2 on $((port + 1))/$((port + 2))"

# ------------------------------------------------------------ archive --
# the long file (k = 5: task 1 of 4) takes a few seconds, so that task 1 is
# cancelled in the middle of it
"$root/tests/e2e/make-archive.sh" "$D/archive" 30 1500 > "$D/truth.txt"
export CLIP_MODEL="$root/models/tiny-demo-clip" CLIP_INTERVAL=3 CLIP_THREADS=1
export CLIP_ROOT=$root
"$root/pipelines/index-archive.sh" "$D/archive" "$D/single" \
  2> "$D/out/single.log" && fail "the reference sweep missed the broken file"
grep -q '12 indexed, 0 already done, 1 failed' "$D/out/single.log" ||
  fail "reference sweep: $(tail -n 1 "$D/out/single.log")"

# ------------------------------------------------------------ sweep --
key_of () {   # shard name of a file, as index-archive.sh makes it
  printf '%s-%s' "$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_' | cut -c1-80)" \
    "$(printf '%s' "$1" | md5sum | cut -c1-10)"
}
submit () {
  sbatch --parsable --array=0-3 --cpus-per-task=1 \
    --output="$D/out/task-%A_%a.log" --chdir="$D" \
    "$root/pipelines/index-archive.sbatch" "$D/archive" "$D/index"
}
job_gone () { [ -z "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]; }
first_done () { [ -f "$D/index/.index-archive/done/$(key_of 01.ogv)" ]; }

job=$(submit) || fail "sbatch failed"
echo "array $job submitted"
# task 1 has 01.ogv, 05-long.ogv, 09.ogv: cancel it once 01.ogv is done
wait_for 60 "task 1's first file" first_done
scancel "${job}_1"
echo "cancelled task ${job}_1 after 01.ogv"
wait_for 120 "array $job to end" job_gone "$job"
long=$(key_of 05-long.ogv)
if [ -f "$D/index/.index-archive/done/$long" ]; then
  echo "note: task 1 finished 05-long.ogv before it was cancelled" >&2
elif [ -f "$D/index/img_emb/$long.npy" ]; then
  fail "the cancelled file 05-long.ogv left a shard (a half shard)"
fi
n_before=$(ls "$D/index/.index-archive/done" | wc -l)
[ "$n_before" -lt 12 ] || fail "all 12 files done despite the cancel"
echo "after the cancel: $n_before of 12 files done"

job2=$(submit) || fail "sbatch failed"
wait_for 120 "array $job2 to end" job_gone "$job2"
skipped=$(cat "$D"/out/task-"${job2}"_*.log | grep -c 'already indexed' || true)
[ "$skipped" -eq "$n_before" ] ||
  fail "the resubmission skipped $skipped files, $n_before were done"
# the broken file (k = 12: task 0) failed its task, in both arrays
state=$(scontrol show job "${job2}_0" 2>/dev/null | grep -o 'JobState=[A-Z]*' | head -n 1)
[ "$state" = "JobState=FAILED" ] || fail "task 0 (broken.ogv): $state, expected FAILED"
grep -q 'FAILED  broken.ogv' "$D/out/task-${job2}_0.log" ||
  fail "broken.ogv not reported by task 0"

# ------------------------------------------------------------ compare --
(cd "$D/single" && find . -path ./.index-archive -prune -o -type f -print | sort) > "$D/single.txt"
(cd "$D/index" && find . -path ./.index-archive -prune -o -type f -print | sort) > "$D/index.txt"
diff "$D/single.txt" "$D/index.txt" > "$D/files.diff" ||
  fail "other files than the one-machine sweep's: $(cat "$D/files.diff")"
while IFS= read -r f; do
  cmp -s "$D/single/$f" "$D/index/$f" || fail "$f differs from the one-machine sweep's"
done < "$D/single.txt"
rows=$(cat "$D"/index/metadata/*.jsonl | wc -l)
unique=$(cat "$D"/index/metadata/*.jsonl | sed 's/"running_time.*//' | sort -u | wc -l)
[ "$rows" -eq "$unique" ] || fail "$((rows - unique)) rows duplicated"
[ -z "$(find "$D/index" -name '*.part')" ] || fail "*.part files left"
"$clip_tool" search "$D/single" -- "pinwheel" > "$D/single.hits"
"$clip_tool" search "$D/index" -- "pinwheel" > "$D/index.hits"
cmp -s "$D/single.hits" "$D/index.hits" || fail "search results differ"
echo "ok: $(grep -c . "$D/single.txt") files, $rows rows, equal to the one-machine sweep"
