#!/usr/bin/env bash
# Build a minimal Debian root filesystem that boots systemd in a container.
# Usage: base-rootfs.sh SUITE MIRROR TARGET_DIR
set -euo pipefail
suite=$1 mirror=$2 target=$3
# openssh-server: a real device is reached over SSH; the inventory scenario does so.
packages=systemd,systemd-sysv,libpam-systemd,dbus,dbus-user-session,python3,sudo,openssh-server

debootstrap --variant=minbase --include="$packages" "$suite" "$target" "$mirror"

# No consoles in a container; the module loader has nothing to load there.
for unit in getty.target console-getty.service getty@tty1.service serial-getty@.service \
            systemd-modules-load.service; do
    ln -sf /dev/null "$target/etc/systemd/system/$unit"
done
: > "$target/etc/machine-id"
rm -f "$target/var/lib/dbus/machine-id"
chroot "$target" apt-get clean
rm -rf "$target"/var/lib/apt/lists/* "$target"/var/cache/apt/*.bin
