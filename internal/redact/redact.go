// Package redact is keyroll's one redaction of URLs in messages. A URL can carry a
// credential in its user information (a Pushgateway's basic-auth password), in its path
// (a Slack webhook URL) or in its query; an error that repeats one (client_golang's push
// errors do, in full) must go through Error before it is logged or returned.
package redact

import (
	"net/url"
	"strings"
)

// URL is raw with only its scheme and host: "https://hooks.slack.com/…". An unparsable
// URL gives "(invalid URL)".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	s := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		s += "/…"
	}
	return s
}

// Error returns err with every trace of the URLs in its message replaced by their URL
// form: the URL as given, as re-encoded by net/url, its password and its path and query
// (which may hold a token). The result unwraps to err, for errors.Is and errors.As;
// only its message is redacted. nil stays nil.
func Error(err error, urls ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := msg
	for _, raw := range urls {
		red = redactOne(red, raw)
	}
	if red == msg {
		return err
	}
	return &redacted{msg: red, err: err}
}

// secrets lists the strings of raw that must not appear: longest first, so that the
// whole URL is replaced before its parts.
func secrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	out = append(out, u.String())
	if u.User != nil {
		out = append(out, u.User.String())
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, url.PathEscape(p), url.QueryEscape(p), p)
		}
	}
	if len(u.EscapedPath()) > 1 {
		out = append(out, u.EscapedPath(), u.Path)
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
	}
	return out
}

func redactOne(msg, raw string) string {
	if raw == "" {
		return msg
	}
	short := URL(raw)
	for _, s := range secrets(raw) {
		if len(s) < 2 { // a one-character password or path would blank out the message
			continue
		}
		msg = strings.ReplaceAll(msg, s, short)
	}
	return msg
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
