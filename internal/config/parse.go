package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// envRef matches ${NAME}, ${NAME:-default} and ${NAME-default}.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}`)

// source remembers where the values of a parsed file came from, so that errors can name
// lines and never print what the environment supplied.
type source struct {
	lines    map[string]int    // key path → line in the original file
	expanded map[string]string // key path → the text as written, for values with ${…}
	values   map[string]string // key path → the value after expansion, for values with ${…}
	secrets  []secret          // values that came from the environment, longest first
}

// secret is a value the environment supplied and the reference it came from.
type secret struct{ value, ref string }

// Read parses YAML from r like Parse and validates the result, returning one *Error with
// every problem of either kind, each with its key path and line.
func Read(r io.Reader, lookup func(string) (string, bool)) (*Config, error) {
	c, err := Parse(r, lookup)
	if c == nil {
		return nil, err
	}
	var problems FieldErrors
	var ce *Error
	if errors.As(err, &ce) {
		problems = ce.Problems
	} else if err != nil {
		return nil, err
	}
	var ve *Error
	if errors.As(c.Validate(), &ve) {
		seen := map[string]bool{}
		for _, p := range problems {
			seen[p.Path] = true
		}
		for _, p := range ve.Problems {
			if !seen[p.Path] { // a value that did not decode is reported once
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// Parse reads YAML from r over Default(), expanding ${NAME}, ${NAME:-default} and
// ${NAME-default} in values (not keys or comments) with shell semantics from lookup, and
// applies the VAULT_ADDR override. It does not validate. Unknown keys, values of the wrong
// type and bad durations are all reported in one *Error, each with its key path and its
// line in r; the configuration is returned beside it with those values left at their
// defaults. A file that is not YAML gives no configuration.
func Parse(r io.Reader, lookup func(string) (string, bool)) (*Config, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	c := Default()
	c.src = source{lines: map[string]int{}, expanded: map[string]string{}, values: map[string]string{}}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, &Error{Problems: decodeProblems(nil, err)}
	}
	problems := c.src.expand(&root, lookup)
	entries := lineEntries(&root)
	for line, es := range entries {
		for _, e := range es {
			c.src.lines[e.path] = line
		}
	}
	problems = append(problems, unknownKeys(&root, reflect.TypeOf(c), "")...)
	if len(root.Content) > 0 {
		if err := root.Decode(&c); err != nil {
			problems = append(problems, decodeProblems(entries, err)...)
		}
	}
	if v, ok := lookup("VAULT_ADDR"); ok && v != "" {
		c.Vault.Address = v
		c.src.expanded["vault.address"] = "${VAULT_ADDR}"
		c.src.values["vault.address"] = v
		c.src.secrets = append(c.src.secrets, secret{v, "$VAULT_ADDR"})
	}
	sort.Slice(c.src.secrets, func(i, j int) bool { return len(c.src.secrets[i].value) > len(c.src.secrets[j].value) })
	if len(problems) > 0 {
		return &c, &Error{Problems: c.src.scrub(problems)}
	}
	return &c, nil
}

// expand replaces ${…} references in the scalar values under n, recording for each the
// text as written, and returns a problem for every variable that is required but unset.
func (s *source) expand(n *yaml.Node, lookup func(string) (string, bool)) FieldErrors {
	var missing FieldErrors
	walk(n, "", func(_, v *yaml.Node, path string) {
		if v.Kind != yaml.ScalarNode || !envRef.MatchString(v.Value) {
			return
		}
		orig := v.Value
		v.Value = envRef.ReplaceAllStringFunc(v.Value, func(m string) string {
			sub := envRef.FindStringSubmatch(m)
			val, ok := lookup(sub[1])
			switch {
			case sub[2] == ":-" && (!ok || val == ""), sub[2] == "-" && !ok:
				return sub[3]
			case !ok:
				missing = append(missing, FieldError{Path: path, Line: v.Line,
					Msg: fmt.Sprintf("${%s} is not set in the environment (write ${%s:-default} for a default)", sub[1], sub[1])})
				return ""
			}
			if val != "" {
				s.secrets = append(s.secrets, secret{val, "${" + sub[1] + "}"})
			}
			return val
		})
		// The expanded text is a plain value: its type is decided by the field it fills.
		v.Style &^= yaml.TaggedStyle
		v.Tag = ""
		s.expanded[path] = orig
		s.values[path] = v.Value
	})
	return missing
}

// show quotes the value v of the key at path for an error message, or names what it was
// expanded from when it came from the environment.
func (c *Config) show(path, v string) string {
	if orig, ok := c.src.expanded[path]; ok {
		return fmt.Sprintf("%q (from the environment; value not shown)", orig)
	}
	return fmt.Sprintf("%q", v)
}

// fromEnv reports whether the key at path was written with a ${…} reference.
func (c *Config) fromEnv(path string) bool {
	orig, ok := c.src.expanded[path]
	return ok && strings.Contains(orig, "${")
}

// scrub keeps every value the environment supplied out of the messages of ps, and adds the
// line of each problem that has none. A problem at a key whose value came from ${…} keeps
// only its message's leading text and names the reference, the value's kind and its
// length. Any other message that still holds 6 consecutive characters of such a value
// (raw or escaped) is cut the same way.
func (s *source) scrub(ps FieldErrors) FieldErrors {
	out := make(FieldErrors, len(ps))
	for i, p := range ps {
		if orig, ok := s.expanded[p.Path]; ok && envRef.MatchString(orig) {
			lead := leadingText(p.Msg)
			if s.leaks(lead) {
				lead = "invalid value"
			}
			p.Msg = fmt.Sprintf("%s: the value of %s (%s) is not shown", lead,
				strings.Join(envRef.FindAllString(orig, -1), ""), describe(s.values[p.Path]))
		} else if s.leaks(p.Msg) {
			lead := leadingText(p.Msg)
			if s.leaks(lead) {
				lead = "invalid value"
			}
			p.Msg = lead + ": (it quoted a value from the environment, not shown)"
		}
		if p.Line == 0 {
			p.Line = s.lines[p.Path]
		}
		out[i] = p
	}
	return out
}

// leadingText is msg up to the first quoted value (or "got"), the part of keyroll's and the
// YAML decoder's messages that says what was wrong without saying with what.
func leadingText(msg string) string {
	if i := strings.IndexAny(msg, "\"`'"); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, " got "); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, "cannot unmarshal"); i >= 0 {
		msg = msg[:i] + "wrong type"
	}
	msg = strings.TrimRight(msg, " :,")
	if msg == "" {
		return "invalid value"
	}
	return msg
}

// describe is the kind and length of v, all an error may say of a value from the
// environment.
func describe(v string) string {
	kind := "text"
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		kind = "a number"
	} else if v == "true" || v == "false" {
		kind = "a boolean"
	}
	return fmt.Sprintf("%s of %d bytes", kind, len(v))
}

// leaks reports whether msg holds 6 consecutive characters of a value from the
// environment, as given or escaped the way %q and the YAML decoder print it, or the
// whole of a shorter value in quotes.
func (s *source) leaks(msg string) bool {
	for _, v := range s.secrets {
		q := strconv.Quote(v.value)
		for _, form := range []string{v.value, q[1 : len(q)-1]} {
			if len(form) < 6 {
				if strings.Contains(msg, `"`+form+`"`) || strings.Contains(msg, "`"+form+"`") || strings.Contains(msg, "'"+form+"'") {
					return true
				}
				continue
			}
			for i := 0; i+6 <= len(form); i++ {
				if strings.Contains(msg, form[i:i+6]) {
					return true
				}
			}
		}
	}
	return false
}

// walk calls f with every value node under n, its key path and the node that names it
// (a mapping entry's key, or the item itself in a sequence), outermost first.
func walk(n *yaml.Node, path string, f func(name, v *yaml.Node, path string)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, f)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f(k, v, join(path, k.Value))
			walk(v, join(path, k.Value), f)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			f(c, c, p)
			walk(c, p, f)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var unmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// unknownKeys reports every mapping key under n that names no field of t.
func unknownKeys(n *yaml.Node, t reflect.Type, path string) FieldErrors {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return unknownKeys(n.Content[0], t, path)
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return unknownKeys(n.Alias, t, path)
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		return nil
	}
	var out FieldErrors
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Value == "<<" {
				continue
			}
			ft, ok := fieldType(t, k.Value)
			if !ok {
				out = append(out, FieldError{Path: join(path, k.Value), Line: k.Line, Msg: "unknown key " + fmt.Sprintf("%q", k.Value)})
				continue
			}
			out = append(out, unknownKeys(n.Content[i+1], ft, join(path, k.Value))...)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			out = append(out, unknownKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

// fieldType returns the type of t's field whose yaml tag is key.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name == key && name != "-" {
			return f.Type, true
		}
	}
	return nil, false
}

var lineRef = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// decodeProblems turns a YAML decoding error into field errors, naming the key path of
// the line each message refers to where entries (from lineEntries) know it.
func decodeProblems(entries map[int][]lineEntry, err error) FieldErrors {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out FieldErrors
	for _, m := range msgs {
		fe := FieldError{Path: "yaml", Msg: strings.TrimPrefix(m, "yaml: ")}
		if sub := lineRef.FindStringSubmatch(m); sub != nil {
			fmt.Sscan(sub[1], &fe.Line)
			fe.Msg = sub[2]
			if es := entries[fe.Line]; len(es) > 0 {
				fe.Path = es[0].path // the outermost key of the line
				for _, e := range es {
					// A scalar whose value the message quotes is the culprit.
					if e.scalar && e.value != "" && (strings.Contains(sub[2], `"`+e.value+`"`) || strings.Contains(sub[2], "`"+e.value+"`")) {
						fe.Path = e.path
						break
					}
				}
			}
		}
		out = append(out, fe)
	}
	return out
}

type lineEntry struct {
	path   string
	value  string
	scalar bool
}

// lineEntries maps each line of a YAML document to the keys on it, outermost first, e.g.
// 12 → [{targets[0].vault_path, "a/b", scalar}].
func lineEntries(root *yaml.Node) map[int][]lineEntry {
	out := map[int][]lineEntry{}
	walk(root, "", func(name, v *yaml.Node, path string) {
		out[name.Line] = append(out[name.Line], lineEntry{path: path, value: v.Value, scalar: v.Kind == yaml.ScalarNode})
	})
	return out
}
