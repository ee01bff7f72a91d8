package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

type recordingSink struct {
	got []Record
	err error
}

func (s *recordingSink) Emit(_ context.Context, rec Record) error {
	s.got = append(s.got, rec)
	return s.err
}

func TestMulti(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	file, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var logBuf bytes.Buffer
	before, after := &recordingSink{}, &recordingSink{}
	var sink Sink = Multi{before, file, nil, LogSink{Logger: zerolog.New(&logBuf)}, after}

	if err := sink.Emit(t.Context(), sample(0)); err != nil {
		t.Fatal(err)
	}
	fileHash := hashOf(t, readLines(t, path)[0])
	if before.got[0].Hash != "" {
		t.Error("a sink before the file saw a hash")
	}
	if after.got[0].Hash != fileHash || after.got[0].PrevHash != GenesisHash {
		t.Errorf("sink after the file: prev_hash %q hash %q, want the file's %q", after.got[0].PrevHash, after.got[0].Hash, fileHash)
	}
	var logged map[string]any
	if err := json.Unmarshal(logBuf.Bytes(), &logged); err != nil {
		t.Fatal(err)
	}
	if logged["evidence"] != true || logged["hash"] != fileHash {
		t.Errorf("log line = %s, want evidence true and the file's hash", logBuf.Bytes())
	}

	// A failing sink does not stop the others, and every error is returned.
	file.Close()
	failing := &recordingSink{err: errors.New("sink down")}
	err = Multi{file, failing, after}.Emit(t.Context(), sample(1))
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "sink down") {
		t.Errorf("Emit = %v, want both errors", err)
	}
	if len(after.got) != 2 || after.got[1].Hash != "" {
		t.Errorf("sink after a failed file: %+v", after.got)
	}
	if err := (Multi{}).Emit(t.Context(), sample(2)); err != nil {
		t.Errorf("empty Multi: %v", err)
	}
}
