package notify

import (
	"cmp"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// redacted replaces a secret in error text.
const redacted = "[redacted]"

// minSecretLen keeps Redact from blanking out short, common words handed to it by mistake;
// real tokens are far longer.
const minSecretLen = 6

// urlInText finds URLs inside error text; the quote, angle bracket or space ends one.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// Redact returns err with its text cleaned for logs, results and Temporal history: every
// URL keeps only scheme://host (a *url.Error prints the whole URL, and a Slack webhook's
// path is its token) and every secret of at least six characters, plain or URL-escaped,
// becomes "[redacted]". Redact(nil) is nil.
//
// The returned error does not wrap err: Temporal records each error of the Unwrap chain as
// a cause, so the original would carry the secret into history anyway.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if urlErr, ok := errors.AsType[*url.Error](err); ok && urlErr.URL != "" {
		msg = strings.ReplaceAll(msg, urlErr.URL, origin(urlErr.URL))
	}
	msg = urlInText.ReplaceAllStringFunc(msg, origin)
	return redactedError{msg: redactSecrets(msg, secrets)}
}

// redactedError is an error whose text has been through Redact.
type redactedError struct{ msg string }

func (e redactedError) Error() string { return e.msg }

// origin is scheme://host of a URL, dropping userinfo, path, query and fragment.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return redacted
	}
	return u.Scheme + "://" + u.Host
}

// redactSecrets replaces each secret, longest first so no part of a longer one survives.
func redactSecrets(msg string, secrets []string) string {
	var forms []string
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
	}
	slices.SortFunc(forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f, redacted)
	}
	return msg
}
