// Package evidence holds the compliance evidence keyroll leaves for every rotation attempt
// (docs/design.md, "The evidence"): the Record, its zerolog log-line form, the optional hash-chained
// JSON-lines file and the verification of that file's chain.
//
// # No secrets
//
// Records never contain secrets. A key is only ever named by its fingerprint
// ("sha256:" + the first 16 hex digits of the SHA-256 of the key, see keyset.Fingerprint),
// and Actor names a host, pod, Vault entity or token accessor, never a token. The free-text
// fields (Step.Detail, ErrorInfo.Message) are written verbatim: callers must build them from
// values that are safe to publish, exactly like log messages. Record.Validate rejects
// fingerprint fields that are not fingerprints, which catches a raw key put in the wrong
// field.
//
// # Sinks
//
// Every record is emitted through a Sink: LogSink writes it as a log line carrying
// "evidence": true, *File appends it to the hash-chained file, and Multi does both in one
// call. Put the File before the LogSink in a Multi: the log line then carries the record's
// prev_hash and hash, which anchors the file's tail (see Result.LastHash).
//
// # The evidence file
//
// The file is created with mode 0600; Open refuses an existing file that group or others
// may access. Each record is one line, written with a single write call and fsynced, under
// a mutex (goroutines) and an exclusive flock(2) (processes), so records are never
// interleaved or split and two processes appending to one file still chain correctly.
//
// Open checks the whole file first. A torn last line (cut short by a crash or a full disk:
// no final newline, or not JSON) is, with Options.Repair, moved to PATH.torn-<UTC time>
// and a repair record ("type": "repair", with the byte count and SHA-256 of what was moved)
// is appended, so a damaged tail never stops a rotation. Anything else (a broken record
// before the last line, a file that does not match its anchor, a signed file without a
// signer) wraps ErrNeedsHuman: nothing is appended to it until someone looks.
//
// # The hash chain
//
// An evidence file is a sequence of lines, each one JSON object followed by "\n" (no empty
// lines, no "\r"). Every object has a "prev_hash" and a "hash" member, both 64 lowercase hex
// digits, and records written by this version a "seq": the record's line number (1, 2, …).
// The first line's prev_hash is GenesisHash (64 zeros); every later line's prev_hash is the
// previous line's hash. A line's hash is
//
//	hash = lowercase hex of SHA-256(C)
//
// where C is the RFC 8785 JSON Canonicalization Scheme (JCS) encoding of the line's JSON
// value without its top-level "hash" and "signature" members (every other member,
// "prev_hash" and "seq" included, is kept, which is what links each record to its
// predecessor). It is computed from the value, not the bytes, so whitespace and member
// order do not matter, and records written by a later version with more fields still
// verify. In short:
//
//   - objects are written as "{" members "}", members separated by "," and each written as
//     string ":" value, sorted by the UTF-16 code units of their keys;
//   - arrays are written as "[" values separated by "," "]";
//   - numbers as ECMAScript writes the nearest IEEE 754 double (integers below 10^21 as
//     plain digits; keyroll writes only integers);
//   - true, false and null as themselves;
//   - strings as '"' + content + '"', where the content is the decoded string in UTF-8,
//     with '"' and '\' written as \" and \\, U+0008, U+0009, U+000A, U+000C and U+000D
//     as \b, \t, \n, \f and \r, every other character below U+0020 as \u00XX with
//     lowercase hex digits, and every other character as its raw UTF-8 bytes;
//   - no whitespace anywhere.
//
// A line whose JSON is invalid, is not an object, contains invalid UTF-8, repeats a key in
// any object or holds a number beyond a double has no canonical encoding and breaks the
// chain. The tests compare this encoding with an independent JCS implementation.
//
// # Signatures
//
// With Options.Signer (keyroll's is Vault Transit, with an ed25519 or ECDSA P-256 key that
// never leaves Vault) every appended record carries a "signature": the signer's signature
// of the ASCII bytes of the record's "hash", written as Transit returns it,
// "vault:v<key version>:<base64 signature>". For ed25519 the signature is over those 64
// bytes; for ECDSA P-256 over their SHA-256, ASN.1 DER encoded. Once a record is signed,
// every later record must be: a file whose signatures were stripped is broken, not
// unsigned. Verify with VerifyOptions.Keys, or without keyroll with
// scripts/verify-evidence.sh (openssl and Python only).
//
// # The anchor
//
// With Options.Anchor (keyroll's is a KV v2 secret in Vault) the file's Head (seq, hash,
// time) is written outside the file after every append, with check-and-set: a writer that
// loses the race re-reads the anchor and stops when a later record is already anchored,
// so the anchor never moves backwards. A chain alone cannot tell a file cut off after a
// whole record, or an older copy put back, from a complete one; VerifyOptions.Head can.
// When only the anchor write fails, the record stays in the file, Append's error wraps
// ErrNotAnchored, and the next Open or Append anchors it.
package evidence
