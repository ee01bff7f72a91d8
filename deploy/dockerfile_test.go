package deploy_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const repoRoot = ".."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // 1-based line of the instruction's first line
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM ... section of a Dockerfile.
type stage struct {
	from, name string
	args       map[string]string // ARG defaults declared in the stage
	instrs     []instruction
}

type dockerfile struct {
	globalArgs map[string]string // ARGs before the first FROM
	stages     []stage
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var instrs []instruction
	var cur *instruction
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if cur == nil && (text == "" || strings.HasPrefix(text, "#")) {
			continue
		}
		if cur != nil && strings.HasPrefix(text, "#") {
			continue // comment lines inside a continued instruction are dropped
		}
		cont := strings.HasSuffix(text, `\`)
		text = strings.TrimSuffix(text, `\`)
		if cur == nil {
			cmd, args, _ := strings.Cut(text, " ")
			cur = &instruction{line: n, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + strings.TrimSpace(text)
		}
		if !cont {
			instrs = append(instrs, *cur)
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("%s: instruction at line %d ends in a continuation", path, cur.line)
	}
	df := dockerfile{globalArgs: map[string]string{}}
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := stage{from: f[0], args: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0:
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			k, v, _ := strings.Cut(in.args, "=")
			df.globalArgs[k] = v
		default:
			st := &df.stages[len(df.stages)-1]
			if in.cmd == "ARG" {
				k, v, _ := strings.Cut(in.args, "=")
				st.args[k] = v
			}
			st.instrs = append(st.instrs, in)
		}
	}
	return df
}

// expand replaces $NAME and ${NAME} in s from vars, as the Dockerfile's shell would.
func expand(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}

// shellWords splits a simple shell command line into words: whitespace separates words,
// single quotes are literal, double quotes expand variables. It rejects what it does not
// understand (pipes, command substitution, ...), so the test never runs something else.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inner := s[i+1 : i+1+j]
			if strings.ContainsAny(inner, "`\\") || strings.Contains(inner, "$(") {
				return nil, fmt.Errorf("unsupported quoting in %q", inner)
			}
			w.WriteString(expand(inner, vars))
			i += j + 1
			inWord = true
		case strings.IndexByte("|&;<>()`\\*?[", c) >= 0:
			return nil, fmt.Errorf("unsupported shell syntax %q in %q", c, s)
		case c == '$':
			m := regexp.MustCompile(`^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)`).FindString(s[i:])
			if m == "" {
				return nil, fmt.Errorf("unsupported $ in %q", s)
			}
			w.WriteString(expand(m, vars))
			i += len(m) - 1
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// buildCommand returns the environment assignments and the `go build` arguments of the
// build stage's RUN line, with VERSION=version.
func buildCommand(t *testing.T, df dockerfile, version string) (env, args []string) {
	t.Helper()
	for _, st := range df.stages {
		vars := map[string]string{}
		for k, v := range st.args {
			vars[k] = v
		}
		vars["VERSION"] = version
		for _, in := range st.instrs {
			if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
				continue
			}
			words, err := shellWords(in.args, vars)
			if err != nil {
				t.Fatalf("Dockerfile:%d: %v", in.line, err)
			}
			for len(words) > 0 && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(words[0]) {
				env = append(env, words[0])
				words = words[1:]
			}
			if len(words) < 2 || words[0] != "go" || words[1] != "build" {
				t.Fatalf("Dockerfile:%d: want [VAR=value...] go build ..., got %q", in.line, words)
			}
			return env, words[2:]
		}
	}
	t.Fatal("Dockerfile: no RUN ... go build line")
	return nil, nil
}

func TestDockerfileBuildMakesStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keyroll")
	}
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	env, args := buildCommand(t, df, "test")
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("build environment %q lacks CGO_ENABLED=0", env)
	}
	if !slices.Contains(args, "-trimpath") {
		t.Errorf("go build %q lacks -trimpath", args)
	}
	// The version, then the revision and whether the tree was modified (keyroll version).
	if !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "-ldflags=-s -w -X github.com/keyroll/keyroll/internal/cli.version=test ") &&
			strings.Contains(a, " -X github.com/keyroll/keyroll/internal/cli.revision=unknown")
	}) {
		t.Errorf("go build %q lacks -ldflags=-s -w -X …cli.version=test -X …cli.revision=…", args)
	}
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("go build %q has no -o", args)
	}
	bin := filepath.Join(t.TempDir(), "keyroll")
	args = slices.Clone(args)
	args[i+1] = bin

	cmd := exec.CommandContext(t.Context(), "go", append([]string{"build"}, args...)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s (from the Dockerfile): %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
	for _, name := range []string{".interp", ".dynamic", ".dynsym"} {
		if f.Section(name) != nil {
			t.Errorf("section %s present: the binary is dynamically linked", name)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary imports %v", libs)
	}
	if _, err := f.Symbols(); err != elf.ErrNoSymbols {
		t.Errorf("the binary has a symbol table (want -s): %v", err)
	}

	out, err := exec.CommandContext(t.Context(), bin, "version").Output()
	if err != nil {
		t.Fatalf("keyroll version: %v", err)
	}
	if !strings.Contains(string(out), "test") {
		t.Errorf("keyroll version = %q, want the -X version %q: is the ldflags path github.com/keyroll/keyroll/internal/cli.version right?", out, "test")
	}
	t.Logf("GOARCH=%s: %s", runtime.GOARCH, bytes.TrimSpace(out))
}

func TestDockerfileStages(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(df.stages) != 2 {
		t.Fatalf("%d stages, want build and final", len(df.stages))
	}
	build, final := df.stages[0], df.stages[1]

	// The build image's Go is at least go.mod's go (and toolchain) version.
	from := expand(build.from, df.globalArgs)
	image, tag, _ := strings.Cut(from, ":")
	if image != "golang" {
		t.Errorf("build stage FROM %s, want golang", from)
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^(?:go|toolchain go)(\d+\.\d+)`).FindAllStringSubmatch(string(gomod), -1) {
		if versionLess(tag, m[1]) {
			t.Errorf("build stage golang:%s is older than go.mod's %s", tag, m[1])
		}
	}

	if final.from != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage FROM %s", final.from)
	}
	last := map[string]string{}
	var copies []string
	for _, in := range final.instrs {
		last[in.cmd] = in.args
		if in.cmd == "COPY" {
			copies = append(copies, in.args)
		}
		if in.cmd == "RUN" {
			t.Errorf("Dockerfile:%d: RUN in the distroless stage (it has no shell)", in.line)
		}
	}
	for cmd, want := range map[string]string{
		"USER":       "65532:65532",
		"ENTRYPOINT": `["/usr/local/bin/keyroll"]`,
		"CMD":        `["run"]`,
		"VOLUME":     `["/var/lib/keyroll"]`,
		"ENV":        "KEYROLL_CONFIG=/etc/keyroll/config.yaml",
	} {
		if last[cmd] != want {
			t.Errorf("final stage %s %s, want %s", cmd, last[cmd], want)
		}
	}
	if !slices.Contains(copies, "--from=build /out/keyroll /usr/local/bin/keyroll") {
		t.Errorf("final stage does not copy /out/keyroll to the entrypoint: %q", copies)
	}
	if !slices.Contains(copies, "--from=build --chown=65532:65532 /out/var/lib/keyroll /var/lib/keyroll") {
		t.Errorf("final stage does not give the evidence volume to 65532: %q", copies)
	}
}

// versionLess reports whether Go version a (major.minor) is older than b.
func versionLess(a, b string) bool {
	parse := func(v string) [2]int {
		var r [2]int
		for i, p := range strings.SplitN(v, ".", 3)[:min(2, len(strings.SplitN(v, ".", 3)))] {
			r[i], _ = strconv.Atoi(p)
		}
		return r
	}
	pa, pb := parse(a), parse(b)
	return pa[0] < pb[0] || pa[0] == pb[0] && pa[1] < pb[1]
}

// TestDockerignoreKeepsBuildInputs checks that .dockerignore excludes no file the image's
// `go build .` needs, and does exclude the repository's history and local secrets.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignored := dockerignoreMatcher(string(b))

	list := exec.CommandContext(t.Context(), "go", "list", "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		".")
	list.Dir = repoRoot
	out, err := list.Output()
	if err != nil {
		// Packages still being written must not fail this test: their files are checked
		// once they compile.
		t.Skipf("go list -deps .: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"go.mod", "go.sum"}
	for _, abs := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, abs)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	if len(files) < 3 {
		t.Fatalf("go list found no source files: %q", out)
	}
	for _, f := range files {
		if ignored(f) {
			t.Errorf(".dockerignore excludes %s, which the build needs", f)
		}
	}
	for _, f := range []string{".git/config", ".env", "server.key", "var/evidence.jsonl", "deploy/kubernetes/cronjob.yaml",
		"cli/app_test.go", "certcentral/testdata/x.json", "keyroll", "bin/keyroll", "tools/vault/vault"} {
		if !ignored(f) {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
}

// dockerignoreMatcher returns a func reporting whether .dockerignore excludes a
// slash-separated path relative to the context: the last matching pattern wins, "!" negates,
// "**" matches any number of directories, and a pattern matching a directory excludes
// everything under it.
func dockerignoreMatcher(content string) func(string) bool {
	type rule struct {
		re     *regexp.Regexp
		negate bool
	}
	var rules []rule
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := rule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, line[1:]
		}
		line = strings.Trim(filepath.ToSlash(filepath.Clean(line)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(?:.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("(?:/.*)?$")
		r.re = regexp.MustCompile(re.String())
		rules = append(rules, r)
	}
	return func(path string) bool {
		excluded := false
		for _, r := range rules {
			if r.re.MatchString(path) {
				excluded = !r.negate
			}
		}
		return excluded
	}
}
