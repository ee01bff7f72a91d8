#!/usr/bin/env bash
# verify-evidence.sh checks a keyroll evidence file without keyroll: it re-computes every
# record's hash from its RFC 8785 (JCS) canonical form, checks the chain (prev_hash, seq)
# and every record's signature against the Transit public key, with openssl and the Python
# standard library only.
#
#   scripts/verify-evidence.sh FILE PUBLIC_KEY_PEM [--signed-from SEQ] [--anchor SEQ:HASH] [--tsa-ca PEM]
#
# PUBLIC_KEY_PEM is the output of `keyroll evidence public-key` (one PEM block per Transit
# key version). --signed-from lets records before SEQ be unsigned (files that predate
# signing). --anchor compares the file's end with the head anchored in Vault, e.g. from
# `vault kv get -format=json secret/keyroll/evidence/head` (.data.data.seq and .hash).
# --tsa-ca checks every timestamp record's RFC 3161 token with `openssl ts -verify` against
# the Time-Stamp Authority's root: signed by the TSA, over the hash of the record before
# it, and in time order.
# Prints "OK FILE: ..." and exits 0 when everything holds; prints "BROKEN FILE: line N:
# reason" and exits 1 otherwise; exits 2 on a usage error.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 FILE PUBLIC_KEY_PEM [--signed-from SEQ] [--anchor SEQ:HASH] [--tsa-ca PEM]" >&2
  exit 2
fi
command -v openssl >/dev/null || { echo "$0: openssl is required" >&2; exit 2; }
command -v python3 >/dev/null || { echo "$0: python3 is required" >&2; exit 2; }
exec python3 - "$@" <<'EOF'
import base64, datetime, decimal, hashlib, json, os, re, subprocess, sys, tempfile

def usage(msg):
    print("verify-evidence.sh: " + msg, file=sys.stderr)
    sys.exit(2)

args = sys.argv[1:]
path, pem_path, signed_from, anchor, tsa_ca = args[0], args[1], 0, None, None
rest = args[2:]
while rest:
    if rest[0] == "--signed-from" and len(rest) > 1:
        signed_from, rest = int(rest[1]), rest[2:]
    elif rest[0] == "--anchor" and len(rest) > 1:
        seq, _, h = rest[1].partition(":")
        anchor, rest = (int(seq), h), rest[2:]
    elif rest[0] == "--tsa-ca" and len(rest) > 1:
        tsa_ca, rest = rest[1], rest[2:]
    else:
        usage("unknown argument " + rest[0])

tmp = tempfile.mkdtemp(prefix="verify-evidence-")
keys = []  # (pem file, "ed25519" or "ec")
pem = open(pem_path).read()
for i, block in enumerate(re.findall(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", pem, re.S)):
    kf = os.path.join(tmp, "key%d.pem" % i)
    open(kf, "w").write(block + "\n")
    text = subprocess.run(["openssl", "pkey", "-pubin", "-in", kf, "-noout", "-text"], capture_output=True, text=True)
    if text.returncode != 0:
        usage("%s: public key %d: %s" % (pem_path, i + 1, text.stderr.strip()))
    keys.append((kf, "ed25519" if text.stdout.startswith("ED25519") else "ec"))
if not keys:
    usage(pem_path + ": no PUBLIC KEY block")

def es6_number(n):
    """RFC 8785 section 3.2.2.3: ECMAScript's Number.prototype.toString of the double n."""
    f = float(n)
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError("number is not a finite double")
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    d = decimal.Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(map(str, d.digits))
    k, n = len(digits), d.exponent + len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    m = digits[0] + ("." + digits[1:] if k > 1 else "")
    return sign + m + "e" + ("+" if n - 1 >= 0 else "-") + str(abs(n - 1))

def jcs(v):
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return "{" + ",".join(jcs(k) + ":" + jcs(x) for k, x in items) + "}"
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return es6_number(v)

def no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError("duplicate key %r" % k)
        obj[k] = v
    return obj

def reject_constant(c):
    raise ValueError("invalid JSON constant " + c)

def verify_signature(hash_hex, sig):
    m = re.fullmatch(r"vault:v([1-9][0-9]*):([A-Za-z0-9+/=]+)", sig)
    if not m:
        return 'signature is not "vault:v<key version>:<base64>"'
    msg, sigf = os.path.join(tmp, "msg"), os.path.join(tmp, "sig")
    open(msg, "wb").write(hash_hex.encode())
    open(sigf, "wb").write(base64.b64decode(m.group(2)))
    for kf, kind in keys:
        if kind == "ed25519":
            cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", kf, "-rawin", "-in", msg, "-sigfile", sigf]
        else:
            cmd = ["openssl", "dgst", "-sha256", "-verify", kf, "-signature", sigf, msg]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            return None
    return "signature (key version %s) does not verify with the public key: forged, or signed by another key" % m.group(1)

def parse_time(s):
    """An RFC 3339 time as Go writes it (up to 9 fractional digits), or None."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", s or "")
    if not m:
        return None
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return t + datetime.timedelta(microseconds=int((m.group(2) or "0")[:6].ljust(6, "0")))

def check_timestamp(ts, prev_hash, prev_seq, prev_finished, last_time):
    """Returns (reason or None, the token's time)."""
    if not isinstance(ts, dict) or ts.get("seq") != prev_seq or ts.get("hash") != prev_hash:
        return "timestamp record does not cover the record before it", None
    tok = os.path.join(tmp, "token.der")
    open(tok, "wb").write(base64.b64decode(ts.get("token", "")))
    v = subprocess.run(["openssl", "ts", "-verify", "-digest", prev_hash, "-token_in", "-in", tok, "-CAfile", tsa_ca],
                       capture_output=True, text=True)
    if v.returncode != 0:
        return "timestamp token does not verify with --tsa-ca (openssl ts -verify: %s)" % " ".join((v.stdout + v.stderr).split())[-200:], None
    t = subprocess.run(["openssl", "ts", "-reply", "-token_in", "-in", tok, "-token_out", "-text"], capture_output=True, text=True)
    m = re.search(r"Time stamp: (\w+ +\d+ \d+:\d+:\d+)(?:\.\d+)? (\d+) GMT", t.stdout)
    if not m:
        return "timestamp token has no time", None
    at = datetime.datetime.strptime(m.group(1) + " " + m.group(2), "%b %d %H:%M:%S %Y").replace(tzinfo=datetime.timezone.utc)
    if prev_finished and at + datetime.timedelta(minutes=5) < prev_finished:
        return "timestamp time %s is before record %d finished" % (at.isoformat(), prev_seq), None
    if last_time and at < last_time:
        return "timestamp time %s is before the previous token's: out of order" % at.isoformat(), None
    return None, at

def broken(line_no, reason):
    print("BROKEN %s: line %d: %s" % (path, line_no, reason))
    sys.exit(1)

data = open(path, "rb").read()
lines = data.split(b"\n")
if lines[-1] == b"":
    lines.pop()
    terminated = True
else:
    terminated = False
prev, signed, saw_seq, saw_sig = "0" * 64, 0, False, False
hashes = {}
prev_finished, last_token, stamps, pending = None, None, 0, 0
for i, raw in enumerate(lines):
    no = i + 1
    last = no == len(lines)
    if raw.strip() == b"":
        broken(no, "empty line")
    if raw.endswith(b"\r"):
        broken(no, "line ends with a carriage return")
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=reject_constant)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        recorded = obj.pop("hash", None)
        sig = obj.pop("signature", None)
        computed = hashlib.sha256(jcs(obj).encode("utf-8")).hexdigest()
    except (ValueError, UnicodeError) as e:
        broken(no, ("last line: " if last and not terminated else "") + "record is not valid: %s" % e)
    if not isinstance(recorded, str) or not re.fullmatch(r"[0-9a-f]{64}", recorded):
        broken(no, 'record has no "hash" of 64 lowercase hex digits')
    if recorded != computed:
        broken(no, "record altered: hash is %s, content hashes to %s" % (recorded, computed))
    if obj.get("prev_hash") != prev:
        broken(no, "prev_hash is %s, want %s: a record before this one was deleted, inserted or reordered" % (obj.get("prev_hash"), prev))
    if "seq" in obj:
        if obj["seq"] != no:
            broken(no, "seq is %s on line %d: records were deleted or inserted" % (obj["seq"], no))
        saw_seq = True
    elif saw_seq:
        broken(no, 'record has no "seq" but an earlier record has one')
    if sig is None:
        if saw_sig:
            broken(no, "record is not signed but an earlier record is: its signature was stripped")
        if no >= signed_from:
            broken(no, "record is not signed (signature stripped? use --signed-from SEQ for records written before signing)")
    else:
        saw_sig = True
        reason = verify_signature(computed, sig) if isinstance(sig, str) else '"signature" is not a string'
        if reason:
            broken(no, reason)
        signed += 1
    if obj.get("type") == "timestamp":
        stamps, pending = stamps + 1, 0
        if tsa_ca:
            reason, last_token = check_timestamp(obj.get("timestamp"), prev, no - 1, prev_finished, last_token)
            if reason:
                broken(no, reason)
    else:
        pending += 1
    if last and not terminated:
        broken(no, "last line: record not terminated by a newline (truncated?)")
    prev, prev_finished = computed, parse_time(obj.get("finished_at"))
    hashes[no] = computed
n = len(lines)
summary = "%d records, chain intact, %d signatures valid" % (n, signed)
if anchor:
    aseq, ahash = anchor
    if n < aseq:
        broken(n + 1, "the file ends at seq %d but the anchor is at seq %d: records were cut off the end, or an older copy of the file was put back" % (n, aseq))
    if hashes.get(aseq) != ahash:
        broken(aseq, "record hashes to %s but the anchor for seq %d is %s: the file was rewritten" % (hashes.get(aseq), aseq, ahash))
    if n > aseq:
        broken(aseq + 1, "%d record(s) after the anchored head (seq %d)" % (n - aseq, aseq))
    summary += ", end matches the anchor (seq %d)" % aseq
if tsa_ca:
    summary += ", %d timestamps valid, %d record(s) pending a timestamp" % (stamps, pending)
print("OK %s: %s, last hash %s" % (path, summary, prev))
EOF
