#!/bin/bash
# run-in-guest.sh — boot the Bluetooth test guest, run <dir>/run.sh inside it, return its exit code.
#
#   usage: run-in-guest.sh <dir>         (dir must contain an executable run.sh)
#   env:   GUEST=/tmp/bt-testbed/guest-bookworm   where build-guest.sh left vmlinuz and rootfs.cpio
#                                        (…/guest-bookworm-backports for the 6.12 kernel)
#          ACCEL=tcg|kvm                 default tcg (see README: /dev/kvm here is PVM and cannot boot a
#                                        stock Debian kernel; TCG always works)
#          GUEST_TIMEOUT=300             seconds run.sh may take inside the guest
#          MEM=1536 SMP=2
#
# <dir> is shared read-write with the guest over virtio-9p and mounted on /mnt/host, so the host
# can drop a test binary (built on this bookworm host: same glibc as the guest) plus data there and
# read logs/results back.  Afterwards <dir> holds: guest.log (run.sh's output), exit-code,
# console.log (the whole serial console, kernel messages included).
# The exit code of this script is the one run.sh returned in the guest; 125/126 = guest-side setup
# problem, 124 = run.sh timed out in the guest, 3 = the guest never reported (qemu died/hung).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST=${GUEST:-/tmp/gatewayd-testbed/guest-bookworm-backports}
ACCEL=${ACCEL:-tcg}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-300}
MEM=${MEM:-1536}
SMP=${SMP:-2}
DIR=$(cd "${1:?usage: run-in-guest.sh <dir with run.sh>}" && pwd)
[ -x "$DIR/run.sh" ] || { echo "$DIR/run.sh is missing or not executable" >&2; exit 2; }
rm -f "$DIR/exit-code" "$DIR/guest.log" "$DIR/console.log"

case $ACCEL in
  kvm) MACH="-machine q35,accel=kvm -cpu host" ;;
  *)   MACH="-machine q35,accel=tcg -cpu max" ;;   # multi-threaded TCG uses both host cores
esac

start=$(date +%s.%N)
# -no-reboot: the guest's poweroff (or a panic, thanks to panic=-1) ends qemu.
# the outer timeout is a safety net: guest timeout + 120 s for booting and shutting down.
timeout -k 10 $((GUEST_TIMEOUT + 120)) \
qemu-system-x86_64 $MACH -smp "$SMP" -m "$MEM" \
  -nodefaults -no-user-config -display none -no-reboot \
  -serial "file:$DIR/console.log" \
  -kernel "$GUEST/vmlinuz" -initrd "$GUEST/rootfs.cpio" \
  -append "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init testbed.timeout=$GUEST_TIMEOUT" \
  -fsdev "local,id=hostfs,path=$DIR,security_model=none" \
  -device virtio-9p-pci,fsdev=hostfs,mount_tag=host \
  </dev/null
qrc=$?
end=$(date +%s.%N)

printf '[run-in-guest] qemu exit %s after %.1f s (accel=%s)\n' "$qrc" "$(echo "$end - $start" | bc)" "$ACCEL"
if [ -f "$DIR/exit-code" ]; then
  rc=$(cat "$DIR/exit-code")
else
  echo "[run-in-guest] the guest did not write exit-code; last console lines:" >&2
  tail -40 "$DIR/console.log" >&2 || true
  rc=3
fi
exit "$rc"
