#!/bin/bash
# run-bluetooth-tests.sh — the project's Bluetooth tests on a real Linux Bluetooth stack, in a qemu guest.
#
#   usage: hw/testbed/run-bluetooth-tests.sh [path/to/gatewaydPackageTests.xctest]
#   env:   WORK (default /tmp/gatewayd-testbed), GUEST (default $WORK/guest-bookworm-backports),
#          FILTER (default "BlueZTestbedTests|FailingDiskTests"; then a second phase runs BluetoothdBesideTests
#          with bluetoothd started in the guest), GUEST_TIMEOUT (default 900 s)
# The guest is also a whole Linux machine with root and device-mapper: FailingDiskTests runs gatewayd on a disk it
# makes fail writes (GATEWAYD_TESTBED_GUEST=1 tells the tests where they are).
#
# Builds the guest first if it is missing (build-guest.sh: Debian packages only; needs root for debootstrap),
# copies the host-built test binary, the gatewayd binary beside it and the Swift runtime libraries they link
# into a share, and boots the guest. Inside, btvirt emulates three LE controllers:
#   hci0  BlueZ's own btgatt-server heart-rate peripheral (a peer this project did not write), advertising 0x180D
#   hci1  the peripheral controller the tests' simulated devices serve real ATT on (a listening L2CAP socket)
#   hci2  the gatewayd central
# The tests configure hci1/hci2 themselves over the management socket. Exit code: the test binary's.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export WORK=${WORK:-/tmp/gatewayd-testbed}
export GUEST=${GUEST:-$WORK/guest-bookworm-backports}
export GUEST_TIMEOUT=${GUEST_TIMEOUT:-900}
FILTER_SET=${FILTER:+1}
FILTER=${FILTER:-BlueZTestbedTests|FailingDiskTests}
BIN=$(readlink -f "${1:-$ROOT/.build/debug/gatewaydPackageTests.xctest}")
[ -x "$BIN" ] || { echo "no test binary at $BIN (swift build --build-tests first)" >&2; exit 2; }

# (Built again when an older guest lacks what a newer test needs: dmsetup for the failing-disk test.)
if [ ! -f "$GUEST/rootfs.cpio" ] || { [ -d "$WORK/rootfs" ] && [ ! -x "$WORK/rootfs/usr/sbin/dmsetup" ]; }; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo -E"
  $sudo bash "$HERE/build-guest.sh"
fi
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing (build-guest.sh installs it)" >&2; exit 2; }

SHARE=$(mktemp -d "$WORK/share.XXXXXX")
mkdir -p "$SHARE/lib"
cp "$BIN" "$SHARE/tests.bin"
cp "$(dirname "$BIN")/gatewayd" "$SHARE/gatewayd" 2>/dev/null || true
# Every shared library the binaries link (the Swift runtime, libbluetooth, libsqlite3, libzstd, libcurl and theirs)
# except glibc and the C++ runtime, which the guest (the same Debian bookworm) has.
for f in "$SHARE/tests.bin" "$SHARE/gatewayd"; do
  [ -f "$f" ] && ldd "$f" | awk '/=> \//{print $3}' \
    | grep -v -E '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux-x86-64)\.so' \
    | xargs -r cp -L -n -t "$SHARE/lib/"
done
echo "$FILTER" > "$SHARE/filter"
# The bluetoothd phase runs with the whole suite (FILTER unset) or when the filter names it.
if [ -z "${FILTER_SET:-}" ] || [[ "$FILTER" == *Bluetoothd* ]]; then touch "$SHARE/bluetoothd-phase"; fi
[ -n "${BT_TRACE:-}" ] && touch "$SHARE/trace"

cat > "$SHARE/run.sh" <<'GUEST'
#!/bin/bash
# Inside the guest: three virtual controllers, BlueZ's heart-rate peripheral on hci0, then the tests.
cd "$(dirname "$0")"
btvirt -L -l3 > btvirt.log 2>&1 &
for i in $(seq 100); do [ -e /sys/class/bluetooth/hci2 ] && break; sleep 0.1; done
address() { hciconfig "$1" | awk '/BD Address/{print $3}'; }
export BT_GATT_SERVER=$(address hci0) BT_PERIPHERAL=$(address hci1) BT_CENTRAL=$(address hci2)
export BT_PERIPHERAL_INDEX=1 BT_CENTRAL_INDEX=2 GATEWAYD_TESTBED_GUEST=1
if [ -f trace ]; then export BT_TRACE=1; command -v btmon >/dev/null && { btmon > btmon.log 2>&1 & }; fi
# btmgmt and btgatt-server need a stdin that stays open (testbed README, pitfall 6).
for c in "le on" "bredr off" "connectable on" "power on"; do btmgmt -i hci0 $c < <(sleep 5) >/dev/null; done
for i in 1 2; do for c in "le on" "bredr off" "connectable on" "bondable on" "power on"; do btmgmt -i hci$i $c < <(sleep 5) >/dev/null; done; done
# btgatt-server serves one connection and exits: restarted, like a strap that is always there.
( while true; do btgatt-server -i hci0 -r < <(sleep 3600); sleep 0.5; done ) > btgatt-server.log 2>&1 &
sleep 1
btmgmt -i hci0 add-adv -c -g -u 180d 1 < <(sleep 5) >/dev/null
echo "fixture: btgatt-server $BT_GATT_SERVER (hci0), peripheral $BT_PERIPHERAL (hci1), central $BT_CENTRAL (hci2)"
LD_LIBRARY_PATH=$PWD/lib ./tests.bin --testing-library swift-testing --filter "$(cat filter)"
rc=$?
# Second phase: bluetoothd beside gatewayd (README "bluetoothd"): the system bus, BlueZ's daemon on every controller,
# then the suite that shows a link gatewayd opens is confirmed by gatewayd alone.
if [ -f bluetoothd-phase ]; then
  echo "--- phase 2: bluetoothd running beside gatewayd"
  mkdir -p /run/dbus && dbus-daemon --system --fork
  /usr/libexec/bluetooth/bluetoothd -n -d > bluetoothd.log 2>&1 &
  for i in $(seq 50); do
    dbus-send --system --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.bluez 2>/dev/null \
      | grep -q "boolean true" && break
    sleep 0.2
  done
  sleep 2
  BT_BLUETOOTHD=1 LD_LIBRARY_PATH=$PWD/lib ./tests.bin --testing-library swift-testing --filter BluetoothdBesideTests
  rc2=$?
  echo "--- bluetoothd log (last lines)"; tail -15 bluetoothd.log
  [ "$rc" -eq 0 ] && rc=$rc2
fi
echo "--- btgatt-server log"; tail -20 btgatt-server.log
dmesg | grep -E "BUG|Oops|WARNING" && echo "kernel reported a problem" && rc=${rc/#0/99}
exit $rc
GUEST
chmod +x "$SHARE/run.sh"
echo "[bluetooth-tests] share $SHARE ($(du -sh "$SHARE" | cut -f1)), guest $GUEST"
rc=0; "$HERE/run-in-guest.sh" "$SHARE" || rc=$?
cat "$SHARE/guest.log" 2>/dev/null || true
# The binaries (~400 MB) go; the logs (guest.log, console.log, btgatt-server.log, btvirt.log) stay for a look.
rm -rf "$SHARE/lib" "$SHARE/tests.bin" "$SHARE/gatewayd"
echo "[bluetooth-tests] exit code from the guest: $rc"
exit "$rc"
