#!/bin/sh
# The kernel matrix (make test-kernels): boots Debian's own kernel packages
# under qemu and runs the kernel tests inside each, with this machine's root
# filesystem as the guest's, read-only over virtio-9p under a tmpfs overlay,
# so the guest runs the leakwatch and the test targets built here.
#
#   tests/kernels/run.sh [BUILD_DIR]     (as root; after make all targets)
#
# Kernels: the newest linux-image-6.1.0-*-amd64 (bookworm, bookworm-security)
# and linux-image-6.12.*+deb12-amd64 (bookworm-backports), fetched with
# apt-get download into BUILD_DIR/kernels/ and unpacked with dpkg-deb; and the
# running kernel, booted the same way when its image is in /boot, else tested
# in place. LW_KERNELS="6.1 6.12 running" picks (default: all three).
# Each kernel's output goes to BUILD_DIR/test-artifacts/kernels/<release>.log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
kernels=$build/kernels
logs=$build/test-artifacts/kernels
mkdir -p "$kernels/debs" "$logs"

say() { printf '  %-8s %s\n' "$1" "$2"; }
die() { echo "test-kernels: $*" >&2; exit 1; }
for tool in qemu-system-x86_64 modprobe depmod cpio xz zstd dpkg-deb; do
	command -v "$tool" >/dev/null || die "missing $tool: run make deps (as root)"
done
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 ||
	die "missing a static /bin/busybox (busybox-static): run make deps"

# fetch LINE: the newest package of a Debian kernel line, unpacked; prints its dir
fetch() {
	case $1 in
	6.1) re='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
	6.12) re='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
	esac
	pkg=$(apt-cache search --names-only "$re" | awk '{print $1}' | sort -V | tail -1)
	if [ -z "$pkg" ]; then
		apt-get update -qq >/dev/null
		pkg=$(apt-cache search --names-only "$re" | awk '{print $1}' | sort -V | tail -1)
	fi
	[ -n "$pkg" ] || die "no Debian package matches $re: is bookworm-backports in apt's sources?"
	dir=$kernels/${pkg#linux-image-}
	if [ ! -d "$dir/lib/modules" ]; then
		(cd "$kernels/debs" && apt-get download -qq "$pkg" 2>/dev/null) ||
			die "cannot download $pkg"
		mkdir -p "$dir.tmp" && dpkg-deb -x "$kernels/debs/${pkg}"_*.deb "$dir.tmp"
		mv "$dir.tmp" "$dir"
	fi
	echo "$dir"
}

# initramfs ROOT RELEASE OUT: busybox and the modules the guest needs to
# mount the host's root (virtio-9p, overlay), with an init that does it.
initramfs() {
	root=$1 rel=$2 out=$3
	[ -s "$root/lib/modules/$rel/modules.dep" ] || depmod -b "$root" "$rel"
	stage=$(mktemp -d)
	mkdir -p "$stage/bin" "$stage/mods" "$stage/proc" "$stage/sys" "$stage/dev" \
		"$stage/lower" "$stage/rw" "$stage/new"
	cp /bin/busybox "$stage/bin/busybox"
	for applet in sh mount insmod mkdir cat ip switch_root poweroff; do
		ln -s busybox "$stage/bin/$applet"
	done
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		modprobe -d "$root" -S "$rel" --show-depends "$m" 2>/dev/null
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
		name=$(basename "$ko" | sed 's/\.\(xz\|zst\|gz\)$//')
		case $ko in
		*.xz) xz -dc "$ko" ;; *.zst) zstd -dcq "$ko" ;; *.gz) gzip -dc "$ko" ;; *) cat "$ko" ;;
		esac >"$stage/mods/$name"
		echo "$name" >>"$stage/mods/order"
	done
	cp "$here/guest-init" "$stage/init"
	chmod 755 "$stage/init"
	(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out"
	rm -rf "$stage"
}

# boot ROOT RELEASE VMLINUZ: runs guest.sh in it; its exit status
boot() {
	root=$1 rel=$2 image=$3
	job=$(mktemp -d)
	initramfs "$root" "$rel" "$job/initramfs"
	printf '%s\n%s\n%s\n' "$repo" "$build" "$root" >"$job/where"
	# One host thread runs both vCPUs: under multi-threaded TCG a vCPU can
	# go on running translated code that another has since patched (static
	# keys, as tracepoints are turned on and off), a stale int3 that no real
	# CPU runs, which ended a 6.1 guest in a soft lockup in 1 of 6 runs.
	accel="-accel tcg,thread=single -cpu max"
	# a software nested KVM (kvm_pvm) runs only kernels built for it
	if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
		accel="-accel kvm -cpu host"
	fi
	set +e
	# shellcheck disable=SC2086
	timeout -k 5 600 qemu-system-x86_64 $accel -m 2G -smp 2 -nodefaults -nographic \
		-no-reboot -serial stdio -monitor none \
		-kernel "$image" -initrd "$job/initramfs" \
		-append "console=ttyS0 panic=-1 quiet loglevel=5 softlockup_panic=1 softlockup_all_cpu_backtrace=1 rdinit=/init" \
		-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
		-fsdev local,id=job,path="$job",security_model=none,multidevs=remap \
		-device virtio-9p-pci,fsdev=job,mount_tag=job </dev/null >"$job/console" 2>&1
	set -e
	tr -d '\r' <"$job/console" >"$logs/$rel.log"
	rc=$(cat "$job/rc" 2>/dev/null || echo 125)
	rm -rf "$job"
	return "$rc"
}

failed=0
for which in ${LW_KERNELS:-6.1 6.12 running}; do
	start=$(date +%s)
	if [ "$which" = running ]; then
		rel=$(uname -r)
		if [ -r "/boot/vmlinuz-$rel" ] && [ -d "/lib/modules/$rel" ]; then
			boot / "$rel" "/boot/vmlinuz-$rel" && rc=0 || rc=$?
		else
			# no image of this kernel to boot: the same tests, in place
			"$here/guest.sh" "$repo" "$build" >"$logs/$rel.log" 2>&1 && rc=0 || rc=$?
			rel="$rel (in place)"
		fi
	else
		dir=$(fetch "$which")
		rel=$(basename "$dir")
		boot "$dir" "$rel" "$dir/boot/vmlinuz-$rel" && rc=0 || rc=$?
		# a guest kernel dead of an int3, or stuck in one (a soft lockup
		# panics, with every CPU's stack), as the emulator's stale code
		# did: booted once more, the first log kept
		if [ "$rc" = 125 ] && grep -qE 'Oops: int3|RIP: 0010:asm_exc_int3' "$logs/$rel.log"; then
			mv "$logs/$rel.log" "$logs/$rel.panic.log"
			say RETRY "$rel: the guest kernel died (build/test-artifacts/kernels/$rel.panic.log); booting it again"
			boot "$dir" "$rel" "$dir/boot/vmlinuz-$rel" && rc=0 || rc=$?
		fi
	fi
	took=$(($(date +%s) - start))
	if [ "$rc" = 0 ]; then
		say PASS "$rel (${took} s)"
	else
		say FAIL "$rel (${took} s, status $rc): build/test-artifacts/kernels/${rel%% *}.log"
		log="$logs/${rel%% *}.log"
		grep -E '^(FAILED|ERROR|leakwatch:|kernel |  program |  left out)' "$log" | head -20 || true
		# where it stopped: the last test started, a stuck test's threads,
		# the guest kernel's own complaints
		echo "  the log's last lines:"
		tail -n 40 "$log" | sed 's/^/    /'

		failed=1
	fi
done
exit $failed
