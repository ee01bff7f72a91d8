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
// The file is created with mode 0600; OpenFile refuses an existing file that group or others
// may access, and a file whose last line is not an intact record. Each record is one line,
// written with a single write call and fsynced, under a mutex (goroutines) and an exclusive
// flock(2) (processes), so records are never interleaved or split and two processes
// appending to one file still chain correctly.
//
// # The hash chain
//
// An evidence file is a sequence of lines, each one JSON object followed by "\n" (no empty
// lines, no "\r"). Every object has a "prev_hash" and a "hash" member, both 64 lowercase hex
// digits. The first line's prev_hash is GenesisHash (64 zeros); every later line's prev_hash
// is the previous line's hash. A line's hash is
//
//	hash = lowercase hex of SHA-256(C)
//
// where C, the canonical encoding of the line, is computed from the line's JSON value (not
// its bytes, so whitespace and member order do not matter, and records written by a later
// version with more fields still verify) as follows:
//
//   - the top-level "hash" member is removed (every other member, "prev_hash" included,
//     is kept, which is what links each record to its predecessor);
//   - objects are written as "{" members "}", members separated by "," and each written as
//     string ":" value, sorted by key in ascending byte order of the keys' UTF-8;
//   - arrays are written as "[" values separated by "," "]";
//   - numbers are written exactly as they appear in the line (no re-formatting);
//   - true, false and null as themselves;
//   - strings as '"' + content + '"', where the content is the decoded string (the line's
//     escape sequences resolved) in UTF-8, with '"' and '\' written as \" and \\,
//     U+0008, U+0009, U+000A, U+000C and U+000D as \b, \t, \n, \f and \r, every other
//     character below U+0020 as \u00XX with lowercase hex digits, and every other character
//     as its raw UTF-8 bytes;
//   - no whitespace anywhere.
//
// A line whose JSON is invalid, is not an object, contains invalid UTF-8 or repeats a key
// in any object has no canonical encoding and breaks the chain. This is RFC 8785 (JCS)
// except that numbers are kept as written and keys are sorted by UTF-8 rather than UTF-16
// code units (the same order for ASCII keys, which are all keyroll writes).
//
// For records that contain no JSON fractions or exponents (keyroll writes none), an
// independent check of one line is Python's
//
//	o = json.loads(line); h = o.pop("hash")
//	c = json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
//	assert hashlib.sha256(c.encode()).hexdigest() == h
//
// Verify detects an edited, deleted, inserted or reordered record, a truncated last record
// and any damage to the line structure. A chain alone cannot tell a file cut off right after
// a whole record from a complete one: compare Result.LastHash with the hash of the latest
// evidence log line for that.
package evidence
