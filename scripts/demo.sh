#!/usr/bin/env bash
# A self-contained run of trustgate's main job on this machine: start a real notary-server
# (memory storage, TLS with a throw-away CA), sign one tag with the real notary client, then
# let trustgate verify a signed and an unsigned tag. Everything lives in a temp folder that
# is removed at the end. Installs Debian's notary package first when it is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/install-test-servers.sh" notary
[ -f "$root/dist/cli.mjs" ] || node "$root/scripts/build.mjs" >/dev/null

work="$(mktemp -d)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=demo-ca \
  -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.crt 2>/dev/null
cat > server.json <<JSON
{ "server": {"http_addr": "127.0.0.1:$port", "tls_cert_file": "server.crt", "tls_key_file": "server.key"},
  "trust_service": {"type": "local"}, "storage": {"backend": "memory"}, "logging": {"level": "error"},
  "caching": {"max_age": {"current_metadata": 0, "consistent_metadata": 0}} }
JSON
notary-server -config server.json >server.log 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  node -e "require('https').get({host:'127.0.0.1',port:$port,path:'/_notary_server/health',ca:require('fs').readFileSync('ca.crt')},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))" && break
  sleep 0.1
done

export NOTARY_ROOT_PASSPHRASE=demo NOTARY_TARGETS_PASSPHRASE=demo NOTARY_SNAPSHOT_PASSPHRASE=demo
gun="127.0.0.1:5000/demo/app"
notary_cli() { notary -d "$work/trust" -s "https://127.0.0.1:$port" --tlscacert ca.crt "$@" >/dev/null; }
digest="$(printf 'demo manifest' | sha256sum | cut -d' ' -f1)"
notary_cli init "$gun"
notary_cli key rotate "$gun" snapshot -r
notary_cli addhash "$gun" v1 13 --sha256 "$digest"
notary_cli publish "$gun"
echo "notary-server on https://127.0.0.1:$port; signed $gun:v1 = sha256:$digest"
echo

export NODE_EXTRA_CA_CERTS="$work/ca.crt" TRUSTGATE_STATE_DIR="$work/state"
for image in "$gun:v1" "$gun:v2"; do
  echo "\$ trustgate verify $image --trust-server https://127.0.0.1:$port"
  node "$root/bin/trustgate.cjs" verify "$image" --trust-server "https://127.0.0.1:$port" && status=0 || status=$?
  echo "(exit $status)"
  echo
done
