package cli

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// evidenceExportCmd is `keyroll evidence export FILE`: the evidence out of a volume with
// nothing but keyroll, which is all the distroless image has (no tar, no shell: `kubectl
// cp` cannot work).
func evidenceExportCmd(env *Env) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "export FILE",
		Short: "Write an evidence file (or a tar of it and its torn tails) to stdout",
		Long: "Write the evidence file FILE to stdout byte for byte, and nothing else (no logs), so\n" +
			"that `kubectl logs` of a one-off pod that mounts the evidence volume is the file. With\n" +
			"--format tar, write a tar archive of FILE, the torn tails keyroll moved aside next to it\n" +
			"(FILE.torn-*) and SHA256SUMS (check with sha256sum -c), for `kubectl exec` or `kubectl\n" +
			"run -i`. The signatures are in the records; check the copy with `keyroll evidence verify`\n" +
			"(with --public-key and --vault for the signatures and the anchor).",
		Example: "  keyroll evidence export /var/lib/keyroll/evidence.jsonl > evidence.jsonl\n" +
			"  keyroll evidence export --format tar /var/lib/keyroll/evidence.jsonl > evidence.tar",
		Args: oneFile,
		RunE: func(_ *cobra.Command, args []string) error { return runEvidenceExport(env, format, args[0]) },
	}
	c.Flags().StringVar(&format, "format", "jsonl", "jsonl (the file as it is) or tar (the file, its torn tails and SHA256SUMS)")
	return c
}

func runEvidenceExport(env *Env, format, file string) error {
	switch format {
	case "jsonl":
		_, err := copyFile(env.Stdout, file)
		return err
	case "tar":
		return exportTar(env.Stdout, file)
	}
	return fmt.Errorf("%w: evidence export: --format %q: want jsonl or tar", ErrUsage, format)
}

// copyFile writes the bytes file holds when it is opened to w (an append made while it
// is copied is left out) and returns their SHA-256.
func copyFile(w io.Writer, file string) ([]byte, error) {
	f, size, err := openSized(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(w, h), f, size); err != nil {
		return nil, fmt.Errorf("evidence export: %s: %w", file, err)
	}
	return h.Sum(nil), nil
}

func openSized(file string) (*os.File, int64, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: evidence export: %v", ErrUsage, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("evidence export: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("evidence export: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: evidence export: %s is not a regular file", ErrUsage, file)
	}
	return f, st.Size(), nil
}

// exportTar writes a tar archive of file, its torn tails and SHA256SUMS to w.
func exportTar(w io.Writer, file string) error {
	torn, err := filepath.Glob(globEscape(file) + ".torn-*")
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	sort.Strings(torn)
	tw := tar.NewWriter(w)
	var sums strings.Builder
	for _, name := range append([]string{file}, torn...) {
		sum, err := addToTar(tw, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum), filepath.Base(name))
	}
	hdr := &tar.Header{Name: "SHA256SUMS", Mode: 0o644, Size: int64(sums.Len()), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	if _, err := io.WriteString(tw, sums.String()); err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	return nil
}

// addToTar adds file, as it is when opened, under its base name and returns its SHA-256.
func addToTar(tw *tar.Writer, file string) ([]byte, error) {
	f, size, err := openSized(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("evidence export: %w", err)
	}
	hdr := &tar.Header{Name: filepath.Base(file), Mode: 0o600, Size: size, ModTime: st.ModTime().UTC(), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("evidence export: %w", err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(tw, h), f, size); err != nil {
		return nil, fmt.Errorf("evidence export: %s: %w", file, err)
	}
	return h.Sum(nil), nil
}

// globEscape quotes the pattern characters of a literal path for filepath.Glob.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
