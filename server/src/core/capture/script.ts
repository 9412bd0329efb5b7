/**
 * The snapshot script `klp-lens capture` runs, and prints with
 * `--print-script` for machines without node (the busybox guest of the kernel
 * tests runs it as it is). It is capture.sh, bundled as text. parse.ts reads
 * what it writes:
 *
 *   klp-capture 1
 *   uname RELEASE MACHINE NODENAME
 *   config-from PATH | config-missing
 *   config CONFIG_X=VALUE            (only the options the simulator needs)
 *   cpus online LIST | cpus possible LIST
 *   livepatch NAME ENABLED TRANSITION
 *   self PID                         (the script's own pid: it and its children are left out)
 *   sample N UPTIME JIFFIES          (JIFFIES "-" without /proc/schedstat)
 *   task PID TID
 *   stat RAW-STAT-LINE
 *   schedstat RUN_NS WAIT_NS TIMESLICES  (/proc/PID/task/TID/schedstat, when there is one)
 *   k FRAME                          (a /proc/PID/task/TID/stack line)
 *   stack-error MESSAGE
 *   end
 */
import script from './capture.sh';

export const CAPTURE_SCRIPT: string = script;
export const CAPTURE_FORMAT_VERSION = 1;
/** The script's exit status when it is not run as root. */
export const CAPTURE_NOT_ROOT = 3;
