#!/usr/bin/env bash
# Remakes the fixtures in this directory with the real asbackup/asrestore 4.5.8 and a real
# Aerospike server (the project's rig: `eval "$(../shared/rigs/up aerospike)"`).
#
#   testdata/asb/encrypted/make-fixtures.sh            # keeps the committed test keys
#   NEW_KEYS=1 testdata/asb/encrypted/make-fixtures.sh # also makes new test keys
#
# It writes records into the sets `encfixture` (300 records) and `encfixture_small` (3) of
# namespace `test` with asrestore, then backs them up with asbackup, once per variant. The
# encrypted files start with a random IV, so every run gives other bytes; what matters is that
# they decrypt (with the keys here) to a backup of the same records.
set -euo pipefail
cd "$(dirname "$0")"
HOST=${AEROSPIKE_HOSTS:-127.0.0.1:3000}
HOST=${HOST%%,*}
BANNER="TEST KEY ONLY: public, made for the restorer's tests; never protect real data with it."

if [[ ${NEW_KEYS:-} == 1 || ! -f test-key-rsa.pem ]]; then
  # OpenSSL 3 writes PKCS#8 ("BEGIN PRIVATE KEY"); asbackup hashes the PKCS#1 DER of the key.
  { echo "$BANNER"; openssl genrsa 2048 2>/dev/null; } > test-key-rsa.pem
  { echo "$BANNER"; openssl rsa -in test-key-rsa.pem -traditional 2>/dev/null; } > test-key-rsa-pkcs1.pem
  { echo "$BANNER"; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256; } > test-key-ec.pem
  { echo "$BANNER"; openssl genpkey -algorithm ED25519; } > test-key-ed25519.pem
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import base64, hashlib, random, sys
out = sys.argv[1]
def write(path, setname, n):
    rnd = random.Random(11)
    lines = ["Version 3.1", "# namespace test", "# first-file"]
    for i in range(n):
        d = base64.b64encode(hashlib.sha1(f"{setname}-{i}".encode()).digest()).decode()
        s = f"name-{i:05d} " + "x" * rnd.randrange(0, 40)
        b = base64.b64encode(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 48)))).decode()
        bins = [f"- I n {i}", f"- I r {rnd.randrange(-2**40, 2**40)}", f"- S s {len(s)} {s}",
                f"- B blob {len(b)} {b}", f"- D f {rnd.random()!r}"]
        lines += ["+ n test", f"+ d {d}", f"+ s {setname}", "+ g 1", "+ t 0",
                  f"+ b {len(bins)}"] + bins
    open(path, "w").write("\n".join(lines) + "\n")
write(f"{out}/encfixture.asb", "encfixture", 300)
write(f"{out}/encfixture_small.asb", "encfixture_small", 3)
PY
asrestore -h "$HOST" -i "$work/encfixture.asb" --no-generation
asrestore -h "$HOST" -i "$work/encfixture_small.asb" --no-generation

backup() { # set output args...
  local set=$1 out=$2
  shift 2
  rm -f "$out"
  asbackup -h "$HOST" -n test -s "$set" -o "$out" "$@"
}
backup encfixture plain.asb
backup encfixture aes128.asb -y aes128 --encryption-key-file test-key-rsa.pem
backup encfixture aes256.asb -y aes256 --encryption-key-file test-key-rsa.pem
backup encfixture zstd.asb -z zstd
backup encfixture zstd-aes256.asb -z zstd -y aes256 --encryption-key-file test-key-rsa.pem
# --encryption-key-env hashes the bytes the variable holds in base64, as they are: here the
# text of the PEM file.
TEST_KEY_B64=$(base64 -w0 test-key-rsa.pem) \
  backup encfixture zstd-aes128-env.asb -z zstd -y aes128 --encryption-key-env TEST_KEY_B64
backup encfixture_small small-plain.asb
backup encfixture_small small-rsa-pkcs1-aes256.asb -y aes256 --encryption-key-file test-key-rsa-pkcs1.pem
backup encfixture_small small-ec-aes256.asb -y aes256 --encryption-key-file test-key-ec.pem
backup encfixture_small small-ed25519-aes128.asb -y aes128 --encryption-key-file test-key-ed25519.pem
ls -l
