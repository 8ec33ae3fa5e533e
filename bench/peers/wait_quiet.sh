#!/bin/sh
# Block until other processes use < 0.25 cores (1 s samples) or MAXWAIT s passed.
# Adapted from shared/bench/wait_quiet.sh: CPU time of niced processes (the nice
# column of /proc/stat) is not counted, since a job at nice 10 takes about a tenth
# of a core from one at nice 0; run_one.py reports it apart as nice_load.
MAXWAIT=${MAXWAIT:-60}
t=0
while [ "$t" -lt "$MAXWAIT" ]; do
  a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
  q=$(echo "$a
$b" | awk '{busy=0; for(i=2;i<=9;i++) if(i!=3 && i!=5 && i!=6) busy+=$i; v[NR]=busy}
   END {print ((v[2]-v[1]) < 25) ? 1 : 0}')
  [ "$q" = 1 ] && exit 0
  t=$((t+1))
done
echo "WARN machine still busy after ${MAXWAIT}s, measuring anyway" >&2
