#!/usr/bin/env bash
# Development and test certificates for ktrail's mutual TLS. NOT FOR
# PRODUCTION: the CA key sits unprotected next to the certificates it signs,
# and whoever holds it can mint an agent certificate for any host.
#
#   scripts/dev-certs.sh DIR [HOSTNAME...]
#
# Makes, where missing (running it again changes nothing that exists):
#   DIR/ca.crt, DIR/ca.key                   a CA for the collector and the agents
#   DIR/collector.crt, DIR/collector.key     CN=ktrail-collector, SAN localhost, 127.0.0.1, ::1
#   DIR/agent-HOST.crt, DIR/agent-HOST.key   CN=HOST (the host an agent may speak for),
#                                            clientAuth; one pair per HOSTNAME (default: this host)
# Keys are EC P-256, mode 0600.
#
#   ktrail-collector --tls-ca DIR/ca.crt --tls-cert DIR/collector.crt --tls-key DIR/collector.key ...
#   ktraild --output collector:localhost:PORT   with DIR/ca.crt, DIR/agent-HOST.crt, DIR/agent-HOST.key
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  echo "usage: $0 DIR [HOSTNAME...]   (development certificates for ktrail's mutual TLS)" >&2
  exit 2
fi
command -v openssl >/dev/null || { echo "dev-certs: the openssl command is missing (apt-get install openssl)" >&2; exit 1; }

dir=$1
shift
hosts=("$@")
((${#hosts[@]})) || hosts=("$(hostname)")
mkdir -p "$dir"
umask 077
days=825

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

new_key() {  # PATH
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null
  chmod 600 "$1.tmp"
  mv "$1.tmp" "$1"
}

# sign NAME SUBJECT EXTENSIONS: DIR/NAME.crt for DIR/NAME.key, signed by the CA.
sign() {
  local name=$1 subject=$2 ext=$3
  [[ -f $dir/$name.key ]] || new_key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "$subject" -out "$tmp/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -CAserial "$tmp/ca.srl" -days "$days" -sha256 -extfile "$tmp/$name.ext" -out "$dir/$name.crt.tmp" 2>/dev/null
  chmod 644 "$dir/$name.crt.tmp"
  mv "$dir/$name.crt.tmp" "$dir/$name.crt"
  echo "dev-certs: made $dir/$name.crt ($subject) and its key $dir/$name.key"
  made=1
}
made=

if [[ ! -f $dir/ca.crt || ! -f $dir/ca.key ]]; then
  new_key "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -subj "/O=ktrail development/CN=ktrail development CA" \
    -days "$days" -sha256 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.crt.tmp" 2>/dev/null
  chmod 644 "$dir/ca.crt.tmp"
  mv "$dir/ca.crt.tmp" "$dir/ca.crt"
  echo "dev-certs: made the CA $dir/ca.crt and its key $dir/ca.key (development only)"
  made=1
fi

if [[ ! -f $dir/collector.crt || ! -f $dir/collector.key ]]; then
  sign collector "/O=ktrail development/CN=ktrail-collector" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
fi

for host in "${hosts[@]}"; do
  if [[ ! $host =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "dev-certs: '$host' is not a host name (letters, digits, '.', '-', '_')" >&2
    exit 2
  fi
  [[ -f $dir/agent-$host.crt && -f $dir/agent-$host.key ]] && continue
  sign "agent-$host" "/O=ktrail development/CN=$host" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=DNS:$host"
done
[[ -n $made ]] || echo "dev-certs: $dir already has them all (${hosts[*]})"
