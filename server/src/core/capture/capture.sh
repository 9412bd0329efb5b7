#!/bin/sh
# klp-lens capture: a raw snapshot of this machine's tasks for Livepatch Lens.
# Reads /proc and /sys only and writes to standard output: nothing leaves the
# machine. Needs root (the kernel stacks in /proc/PID/stack are root's only).
# Needs only a POSIX sh with cat, sed, grep, gzip, uname, head, sleep (busybox
# has them).  Usage: sh capture.sh [SAMPLES] [INTERVAL_SECONDS]
samples=${1:-1}
interval=${2:-0.2}
uid=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
if [ "$uid" != 0 ]; then
  echo "klp-lens capture: must run as root: the kernel stacks in /proc/PID/stack are readable by root only (running as uid $uid)" >&2
  exit 3
fi
echo "klp-capture 1"
echo "uname $(uname -r) $(uname -m) $(uname -n)"
keys='^CONFIG_(LIVEPATCH|HAVE_RELIABLE_STACKTRACE|UNWINDER_[A-Z_]*|FRAME_POINTER|PREEMPT[A-Z_]*|HZ|SCHEDSTATS)='
if [ -r /proc/config.gz ]; then
  echo "config-from /proc/config.gz"
  gzip -dc /proc/config.gz | grep -E "$keys" | sed 's/^/config /'
elif [ -r "/boot/config-$(uname -r)" ]; then
  echo "config-from /boot/config-$(uname -r)"
  grep -E "$keys" "/boot/config-$(uname -r)" | sed 's/^/config /'
else
  echo "config-missing"
fi
for f in online possible; do
  if [ -r /sys/devices/system/cpu/$f ]; then echo "cpus $f $(cat /sys/devices/system/cpu/$f)"; fi
done
if [ -d /sys/kernel/livepatch ]; then
  for p in /sys/kernel/livepatch/*; do
    if [ -d "$p" ]; then echo "livepatch ${p##*/} $(cat "$p/enabled" 2>/dev/null || echo -) $(cat "$p/transition" 2>/dev/null || echo -)"; fi
  done
fi
echo "self $$"
n=1
while [ "$n" -le "$samples" ]; do
  j=
  if [ -r /proc/schedstat ]; then j=$(sed -n 's/^timestamp //p' /proc/schedstat); fi
  read -r up rest < /proc/uptime
  echo "sample $n $up ${j:--}"
  for t in /proc/[0-9]*/task/[0-9]*; do
    read -r st < "$t/stat" 2>/dev/null || continue
    p=${t#/proc/}
    echo "task ${p%%/*} ${t##*/}"
    echo "stat $st"
    # Run time, wait time and how many times it was put on a CPU (CONFIG_SCHED_INFO).
    if read -r ss < "$t/schedstat" 2>/dev/null; then echo "schedstat $ss"; fi
    if s=$(cat "$t/stack" 2>&1); then
      if [ -n "$s" ]; then echo "$s" | sed 's/^/k /'; fi
    else
      echo "stack-error $s" | head -n 1
    fi
  done
  n=$((n + 1))
  if [ "$n" -le "$samples" ]; then sleep "$interval"; fi
done
echo end
