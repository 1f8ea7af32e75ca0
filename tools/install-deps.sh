#!/bin/sh
# Install what leakwatch needs to build and test, from Debian 12's packages.
# libbpf >= 1.4 and bpftool >= 7.4 come from bookworm-backports (the main suite
# has 1.1 / 7.1); the suite is enabled on the Debian mirror apt already uses.
# Idempotent: when everything is present it only checks and returns.
set -eu

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: must run as root (apt-get); run 'make demo' or 'make test' as root, e.g. with sudo" >&2
	exit 1
fi

main_pkgs="make gcc g++ clang llvm pkg-config libelf-dev libdw-dev zlib1g-dev libcapstone-dev libc6-dbg libcmocka-dev libclang-rt-14-dev python3 python3-pytest libpython3.11-dev libjemalloc2 chromium libmicrohttpd-dev prometheus yamllint"
# --pprof: protoc-c and its library build it; the tests decode profiles with
# protoc and read them with go tool pprof (golang-go)
main_pkgs="$main_pkgs protobuf-c-compiler libprotobuf-c-dev protobuf-compiler golang-go"
# leakwatch diff reads reports back with json-c
main_pkgs="$main_pkgs libjson-c-dev"
# allocators the tests run targets under, preloaded and linked (-l needs the -dev packages)
main_pkgs="$main_pkgs libjemalloc-dev libtcmalloc-minimal4 libgoogle-perftools-dev libmimalloc2.0 libmimalloc-dev"
# make test-kernels: Debian's kernels under qemu, with a busybox init
main_pkgs="$main_pkgs qemu-system-x86 busybox-static kmod cpio xz-utils zstd"
bp_pkgs="libbpf-dev bpftool"

have() {
	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || return 1
	done
}

libbpf_new_enough() {
	v=$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null) || return 1
	dpkg --compare-versions "$v" ge "1:1.4"
}

if have $main_pkgs $bp_pkgs && libbpf_new_enough; then
	exit 0
fi

# The main suite's mirror, from the deb822 or one-line sources, so no host is named here.
backports_list=/etc/apt/sources.list.d/leakwatch-backports.list
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -m1 -v -e security -e '^$' || true)
	if [ -z "$mirror" ]; then
		mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
	fi
	if [ -z "$mirror" ]; then
		echo "install-deps: no Debian bookworm mirror found in apt's sources; add 'bookworm-backports' to them and rerun" >&2
		exit 1
	fi
	echo "deb $mirror bookworm-backports main" >"$backports_list"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $main_pkgs
apt-get install -y -qq --no-install-recommends -t bookworm-backports $bp_pkgs
libbpf_new_enough || { echo "install-deps: libbpf-dev >= 1.4 not installed; check that bookworm-backports is reachable" >&2; exit 1; }
