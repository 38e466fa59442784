#!/usr/bin/env bash
# Installs every Debian package ktrail needs (idempotent, non-interactive),
# then configures and builds into build/ (binaries in build/bin/).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang llvm                          # BPF programs (clang -target bpf)
  libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
  protobuf-compiler libprotobuf-dev   # the Event model
  libspdlog-dev libfmt-dev            # the agent's own logs
  libaudit-dev                        # audit record type names
  libyaml-cpp-dev                     # ktrail rule files (YAML)
  libgrpc++-dev protobuf-compiler-grpc # agent -> collector (gRPC over mutual TLS)
  libssl-dev openssl                  # SHA-256 chain, Ed25519 checkpoints; dev certificates
  libzstd-dev                         # batch compression
  libsqlite3-dev libpq-dev            # the central store's back ends
  librdkafka-dev                      # the kafka:// output (idempotent producer; tests use its mock cluster)
  libclang-rt-14-dev                  # libFuzzer for the fuzz targets (clang -fsanitize=fuzzer)
  catch2 nlohmann-json3-dev           # tests
  sudo openssh-server sshpass         # tests: real sudo commands and ssh logins
  attr                                # setfattr/getfattr for manual checks
  dpkg-dev                            # dpkg-shlibdeps: the Debian package's Depends (scripts/package.sh)
  adduser                             # the package's postinst/postrm add and remove the ktrail user
)

# Tests compare with Debian's auditd and auditctl. Installed without starting
# the service: a running auditd would own the audit stream on this host.
NO_AUTOSTART=(auditd)
# The PostgreSQL store's tests start their own server (as the postgres user,
# on a temp dir and a free loopback port); Debian's cluster is not used.
NO_AUTOSTART+=(postgresql)
# The syslog outputs' tests start their own rsyslogd (plain and TLS through
# OpenSSL) on a free loopback port; the host's rsyslog service is not used.
NO_AUTOSTART+=(rsyslog rsyslog-openssl)

missing=()
for p in "${PACKAGES[@]}" "${NO_AUTOSTART[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run with sudo to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then  # no service starts during this install
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
  [[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || exit "$rc"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${KTRAIL_BUILD_TYPE:-RelWithDebInfo}" \
      ${KTRAIL_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$(nproc)"
