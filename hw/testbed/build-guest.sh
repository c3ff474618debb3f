#!/bin/bash
# build-guest.sh — builds the Bluetooth test guest (kernel + BlueZ tools) from Debian bookworm packages only.
# Adapted from ../../../shared/testbed/reference (where the approach and its pitfalls are written up).
#
# Output (in $GUEST, default $WORK/guest-$KERNEL_SUITE, WORK default /tmp/bt-testbed):
#   $GUEST/vmlinuz           Debian's linux-image-amd64 kernel (has CONFIG_BT=m, CONFIG_BT_HCIVHCI=m;
#                            linux-image-cloud-amd64 does NOT have Bluetooth at all)
#   $GUEST/rootfs.cpio  the whole guest root file system as one initramfs (no disk image,
#                            no switch_root: the guest runs straight from the initramfs)
#
# What goes into the guest:
#   * debootstrap --variant=minbase bookworm + bluez, bluez-test-tools (btvirt), python3 (its
#     socket module has AF_BLUETOOTH), busybox (poweroff), kmod (modprobe), and dbus: bluez
#     depends on "default-dbus-system-bus | dbus-system-bus", a virtual package debootstrap cannot
#     resolve ("Failure while configuring base packages ... possibly the package bluez is at fault")
#   * only the kernel modules the test bed needs (bluetooth, hci_vhci, SMP crypto, 9p/virtio),
#     with their dependencies, taken from the same linux-image .deb as the kernel
#   * btgatt-server / btgatt-client: NOT shipped as binaries by any bookworm package except
#     bluez-source, whose /usr/src/bluez.tar.bz2 happens to contain the built tree (tools/btgatt-*
#     linked against libc only).  We take them from there; if a later bluez-source ever drops the
#     built binaries, the script falls back to compiling just those two tools from that tarball.
#   * /init (guest-init.sh beside this script): mounts the host's 9p share on /mnt/host, loads the
#     modules, runs /mnt/host/run.sh, writes its exit code to /mnt/host/exit-code, powers off.
#
# Needs: root, Debian bookworm host, apt sources that reach Debian's archive.
# Time on a 2-core VM: ~2 min debootstrap + ~1 min the rest (first run: + apt downloads).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/gatewayd-testbed}
# The Debian mirror: the first "URIs:" of the host's own apt sources (override with MIRROR=...).
# Older hosts list it as "deb URL suite …" in /etc/apt/sources.list; Debian's own redirector is the last resort.
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}
MIRROR=${MIRROR:-$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
[ -n "$MIRROR" ] || { echo "set MIRROR to a Debian mirror URL" >&2; exit 2; }
SUITE=bookworm
mkdir -p "$WORK" && cd "$WORK"

log() { echo "[build-guest $(date +%T)] $*"; }

# --- 1. host tools -------------------------------------------------------------------------------
log "installing host packages"
export DEBIAN_FRONTEND=noninteractive
if [ ! -f "$WORK/.apt-updated" ]; then apt-get update -qq; touch "$WORK/.apt-updated"; fi
apt-get install -y -qq --no-install-recommends qemu-system-x86 debootstrap cpio bzip2 kmod bc >/dev/null

# --- 2. kernel: whatever linux-image-amd64 currently points at ----------------------------------
# KERNEL_SUITE=bookworm (default: bookworm + bookworm-security, i.e. 6.1.x) or bookworm-backports
# (6.12.x).  The backports index is fetched into a private apt state dir, so the host's apt
# configuration is left untouched.
KERNEL_SUITE=${KERNEL_SUITE:-bookworm-backports}   # 6.12: bookworm's 6.1 has a BUG when a peer drops the link
GUEST=${GUEST:-$WORK/guest-$KERNEL_SUITE}
mkdir -p debs "$GUEST"
APTK=()
if [ "$KERNEL_SUITE" != bookworm ]; then
  B=$WORK/apt-$KERNEL_SUITE; mkdir -p "$B/lists/partial" "$B/cache/archives/partial"
  echo "deb $MIRROR $KERNEL_SUITE main" > "$B/sources.list"
  APTK=(-o Dir::Etc::SourceList="$B/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o Dir::State::Lists="$B/lists" -o Dir::Cache="$B/cache" -o Dir::Cache::Archives="$B/cache/archives")
  apt-get "${APTK[@]}" update -qq
fi
KPKG=$(apt-cache "${APTK[@]}" depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
KVER=${KPKG#linux-image-}
log "kernel package $KPKG (KVER=$KVER) from $KERNEL_SUITE"
(cd debs && { ls ${KPKG}_*.deb >/dev/null 2>&1 || apt-get "${APTK[@]}" download -qq "$KPKG"; }
             ls bluez-source_*.deb >/dev/null 2>&1 || apt-get download -qq bluez-source; ) 2>&1 \
  | grep -v 'unsandboxed' || true
rm -rf kernel && mkdir kernel && dpkg -x debs/${KPKG}_*.deb kernel
# newer kernel packages install to /usr/lib/modules: normalise to kernel/lib/modules
if [ -d kernel/usr/lib/modules ] && [ ! -d kernel/lib/modules ]; then mkdir -p kernel/lib; mv kernel/usr/lib/modules kernel/lib/; fi
grep -q '^CONFIG_BT_HCIVHCI=m' kernel/boot/config-$KVER || { echo "kernel lacks hci_vhci" >&2; exit 1; }
cp kernel/boot/vmlinuz-$KVER "$GUEST/vmlinuz"
depmod -b "$WORK/kernel" "$KVER"       # the .deb ships no modules.dep (its postinst makes it)

# --- 3. root file system ------------------------------------------------------------------------
# (dmsetup and e2fsprogs: the failing-disk test puts a device-mapper target that fails writes under gatewayd.)
if [ ! -x rootfs/usr/bin/btvirt ] || [ ! -x rootfs/usr/sbin/dmsetup ]; then
  log "debootstrap (minbase + bluez) — about 2 minutes"
  rm -rf rootfs
  debootstrap --variant=minbase \
    --include=bluez,bluez-test-tools,dbus,python3,busybox,kmod,dmsetup,e2fsprogs \
    "$SUITE" rootfs "$MIRROR" > debootstrap.log 2>&1 || { tail -30 debootstrap.log; exit 1; }
fi

# --- 4. btgatt-server / btgatt-client from bluez-source ------------------------------------------
log "btgatt-server/btgatt-client from bluez-source"
rm -rf src && mkdir src && dpkg -x debs/bluez-source_*.deb src/pkg
if tar -xjf src/pkg/usr/src/bluez.tar.bz2 -C src \
      bluez-source/tools/btgatt-server bluez-source/tools/btgatt-client 2>/dev/null; then
  log "  using the prebuilt binaries inside bluez.tar.bz2"
else
  log "  no prebuilt binaries; compiling them (needs gcc, make, libglib2.0-dev, libdbus-1-dev)"
  apt-get install -y -qq --no-install-recommends gcc make pkg-config libglib2.0-dev libdbus-1-dev \
      libudev-dev libreadline-dev libical-dev >/dev/null
  tar -xjf src/pkg/usr/src/bluez.tar.bz2 -C src
  (cd src/bluez-source && ./configure -q --disable-manpages --disable-systemd --disable-cups \
      --disable-obex --disable-mesh --disable-midi --disable-udev >/dev/null \
   && make -s -j"$(nproc)" tools/btgatt-server tools/btgatt-client)
fi
install -m755 src/bluez-source/tools/btgatt-server src/bluez-source/tools/btgatt-client \
  rootfs/usr/local/bin/

# --- 5. kernel modules: the needed ones plus their dependencies ----------------------------------
log "kernel modules"
MODDIR=kernel/lib/modules/$KVER
# bluetooth core, the virtual HCI driver, 9p over virtio for the host share, and ALL crypto modules:
#  * btvirt's emulated controllers open AF_ALG sockets ("ecb(aes)", "cmac(aes)"): without
#    af_alg/algif_skcipher/algif_hash btvirt dies with "Failed to open Virtual HCI device"
#  * the kernel's SMP (pairing) needs ecdh_generic, which needs the default RNG (drbg); without
#    drbg the self-test logs "alg: ecdh-nist-p256: test failed on vector 2, err=-14"
WANT="bluetooth hci_vhci 9p 9pnet_virtio virtio_pci"
# device-mapper (a target that fails writes: dm-flakey), loop devices and ext2 (through ext4) for the failing-disk test
WANT="$WANT dm_mod dm_flakey loop ext4"
for f in "$MODDIR"/kernel/crypto/*.ko* "$MODDIR"/kernel/arch/x86/crypto/*.ko* "$MODDIR"/kernel/lib/crypto/*.ko*; do
  f=${f##*/}; f=${f%%.ko*}; WANT="$WANT ${f//-/_}"
done
declare -A SEEN=()
add_mod() {                      # $1 = module name; walks modules.dep recursively
  local rel deps d
  rel=$(awk -F: -v m="$1" '{n=$1; sub(/.*\//,"",n); sub(/\.ko(\.[a-z]+)?$/,"",n); gsub("-","_",n)
                            if (n==m) {print $1; exit}}' "$MODDIR/modules.dep")
  [ -n "$rel" ] || { [ -e "$MODDIR/modules.builtin" ] && grep -q "/$1.ko" "$MODDIR/modules.builtin" && return 0
                     echo "module $1 not found" >&2; exit 1; }
  [ -n "${SEEN[$rel]:-}" ] && return 0; SEEN[$rel]=1
  deps=$(awk -F': ' -v r="$rel" '$1==r {print $2; exit}' "$MODDIR/modules.dep")
  for d in $deps; do d=${d##*/}; d=${d%%.ko*}; add_mod "${d//-/_}"; done
}
for m in $WANT; do add_mod "$m"; done
rm -rf rootfs/lib/modules && mkdir -p rootfs/lib/modules/$KVER
for rel in "${!SEEN[@]}"; do
  mkdir -p "rootfs/lib/modules/$KVER/$(dirname "$rel")"
  cp "$MODDIR/$rel" "rootfs/lib/modules/$KVER/$rel"
done
cp $MODDIR/modules.order $MODDIR/modules.builtin* rootfs/lib/modules/$KVER/ 2>/dev/null || true
chroot rootfs depmod "$KVER"
log "  $(echo "${!SEEN[@]}" | wc -w) modules"

# --- 6. /init and small tidy-ups ------------------------------------------------------------------
install -m755 "$HERE/guest-init.sh" rootfs/init
echo bt-guest > rootfs/etc/hostname

# --- 7. pack: the whole tree as an uncompressed newc cpio (fastest to unpack under TCG) -----------
log "packing initramfs"
STAGE=$WORK/stage
rm -rf "$STAGE" && cp -a rootfs "$STAGE"
rm -rf "$STAGE"/usr/share/{doc,man,info,locale,i18n,zoneinfo,perl*} "$STAGE"/var/cache/apt/* \
       "$STAGE"/var/lib/apt/lists/* "$STAGE"/usr/lib/x86_64-linux-gnu/perl* "$STAGE"/usr/bin/perl* \
       "$STAGE"/usr/lib/x86_64-linux-gnu/gconv "$STAGE"/usr/lib/udev/hwdb.bin \
       "$STAGE"/usr/lib/python3.11/{test,ensurepip,idlelib,tkinter,lib2to3,pydoc_data,turtledemo} \
       2>/dev/null || true
# (__pycache__ is kept: byte-compiling at every python3 start is slow under TCG)
(cd "$STAGE" && find . -print0 | cpio --null -o -H newc --quiet) > "$GUEST/rootfs.cpio"
rm -rf "$STAGE"
log "done: $GUEST: $(du -sh "$GUEST/rootfs.cpio" | cut -f1) initramfs, kernel $KVER"
ls -la "$GUEST"
