package identity

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigner is one line of an OpenSSH allowed signers file (man
// ssh-keygen, ALLOWED SIGNERS): who may sign with Key, for which namespaces,
// and when.
type AllowedSigner struct {
	Line          int           // line number in the file, for messages
	Principals    []string      // patterns (ssh_config PATTERNS: *, ? and !negation)
	Namespaces    []string      // patterns; nil when the line does not restrict namespaces
	CertAuthority bool          // Key is a CA for certificates, not a signing key
	ValidAfter    time.Time     // zero when unbounded; the key is valid at this instant
	ValidBefore   time.Time     // zero when unbounded; the key is valid at this instant
	Key           ssh.PublicKey // plain key, never a certificate
	Comment       string        // text after the key
}

// AllowedSigners is a parsed allowed signers file, in file order.
type AllowedSigners []AllowedSigner

// Allows reports whether the line lets Key sign for person in namespace at
// the given time, as `ssh-keygen -Y verify -I person -n namespace` would
// decide with -Overify-time. Certificate authority lines allow nothing:
// rewind does not accept certificates (yet).
func (s AllowedSigner) Allows(person, namespace string, at time.Time) bool {
	if s.CertAuthority || !matchPatternList(person, s.Principals) {
		return false
	}
	if s.Namespaces != nil && !matchPatternList(namespace, s.Namespaces) {
		return false
	}
	// ssh-keygen compares in whole seconds.
	at = at.Truncate(time.Second)
	if !s.ValidAfter.IsZero() && at.Before(s.ValidAfter) {
		return false
	}
	if !s.ValidBefore.IsZero() && at.After(s.ValidBefore) {
		return false
	}
	return true
}

// KeysFor returns the keys allowed to sign for person in namespace at the
// given time, each once, in file order: the keys to pass to Verify or Check.
func (list AllowedSigners) KeysFor(person, namespace string, at time.Time) []ssh.PublicKey {
	var keys []ssh.PublicKey
	for _, s := range list {
		if s.Allows(person, namespace, at) && findKey(keys, s.Key) == nil {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// ParseAllowedSigners parses an OpenSSH allowed signers file: per line,
// principals (a comma-separated pattern list, optionally in double quotes),
// options (cert-authority, namespaces="...", valid-after="...",
// valid-before="..."; names case-insensitive), then the key and an optional
// comment. Blank lines and lines starting with # are skipped. Every bad line
// is reported, each naming its line number.
//
// Times must end in Z (UTC): ssh-keygen reads a time without Z in the local
// zone of whichever machine verifies, which a policy must not depend on.
func ParseAllowedSigners(data []byte) (AllowedSigners, error) {
	var (
		list AllowedSigners
		errs []error
	)
	for i, line := range splitLines(data) {
		n := i + 1
		if isBlankOrComment(line) {
			continue
		}
		s, err := parseAllowedSigner(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("parse allowed signers line %d: %w", n, err))
			continue
		}
		s.Line = n
		list = append(list, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return list, nil
}

// ParsePublicKeys parses authorized_keys-style lines ("ssh-ed25519 AAAA...
// comment"), skipping blank lines and # comments. Options are refused rather
// than ignored, since rewind would not enforce them.
func ParsePublicKeys(data []byte) ([]ssh.PublicKey, error) {
	var (
		keys []ssh.PublicKey
		errs []error
	)
	for i, line := range splitLines(data) {
		if isBlankOrComment(line) {
			continue
		}
		key, _, err := parsePublicKey(strings.TrimLeft(line, " \t"))
		if err != nil {
			errs = append(errs, fmt.Errorf("parse public keys line %d: %w", i+1, err))
			continue
		}
		keys = append(keys, key)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return keys, nil
}

func splitLines(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

func isBlankOrComment(line string) bool {
	trimmed := strings.TrimLeft(line, " \t")
	return trimmed == "" || trimmed[0] == '#'
}

func parseAllowedSigner(line string) (AllowedSigner, error) {
	var s AllowedSigner
	principals, rest, err := cutPrincipals(strings.TrimLeft(line, " \t"))
	if err != nil {
		return s, err
	}
	if checkKeyType(principals) == nil {
		return s, fmt.Errorf("the line starts with a %s key: put the principals (who may sign) first", principals)
	}
	if s.Principals, err = splitPatternList(principals); err != nil {
		return s, fmt.Errorf("principals: %w", err)
	}
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" {
		return s, errors.New("missing key after the principals")
	}

	// As ssh-keygen does: a key here means there are no options.
	key, comment, keyErr := parsePublicKey(rest)
	if keyErr == nil {
		s.Key, s.Comment = key, comment
		return s, nil
	}
	if first, _ := cutBlank(rest); looksLikeKeyType(first) {
		return s, keyErr
	}
	options, rest, err := cutOptions(rest)
	if err != nil {
		return s, err
	}
	if err := s.parseOptions(options); err != nil {
		return s, err
	}
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" {
		return s, errors.New("missing key after the options")
	}
	if s.Key, s.Comment, err = parsePublicKey(rest); err != nil {
		return s, err
	}
	return s, nil
}

func looksLikeKeyType(field string) bool {
	for _, prefix := range []string{"ssh-", "ecdsa-", "sk-"} {
		if strings.HasPrefix(field, prefix) {
			return true
		}
	}
	return false
}

// cutBlank returns the text up to the first space or tab, and what follows
// the blanks after it.
func cutBlank(s string) (field, rest string) {
	end := strings.IndexAny(s, " \t")
	if end < 0 {
		return s, ""
	}
	return s[:end], strings.TrimLeft(s[end:], " \t")
}

// cutPrincipals returns the first field, which may be wrapped in double
// quotes, and what follows it.
func cutPrincipals(line string) (field, rest string, err error) {
	if strings.HasPrefix(line, `"`) {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return "", "", errors.New("principals: missing closing quote")
		}
		field, rest = line[1:1+end], line[2+end:]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return "", "", errors.New("principals: text right after the closing quote")
		}
		return field, rest, nil
	}
	end := strings.IndexAny(line, " \t")
	if end < 0 {
		return line, "", nil
	}
	return line[:end], line[end:], nil
}

// cutOptions returns the options field: up to the first blank outside
// double quotes, as sshkey_advance_past_options reads it.
func cutOptions(s string) (field, rest string, err error) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && (s[i] == ' ' || s[i] == '\t'):
			return s[:i], s[i:], nil
		}
	}
	if quoted {
		return "", "", errors.New("options: missing closing quote")
	}
	return s, "", nil
}

// splitOptions splits on commas outside double quotes.
func splitOptions(s string) []string {
	var (
		parts  []string
		start  int
		quoted bool
	)
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func (s *AllowedSigner) parseOptions(field string) error {
	seen := make(map[string]bool)
	for _, opt := range splitOptions(field) {
		name, value, hasValue := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		if name == "" {
			return fmt.Errorf("options: empty option in %q", field)
		}
		if seen[name] {
			return fmt.Errorf("options: %s given twice", name)
		}
		seen[name] = true
		if name == "cert-authority" {
			if hasValue {
				return errors.New("options: cert-authority takes no value")
			}
			s.CertAuthority = true
			continue
		}
		if !hasValue {
			return fmt.Errorf("options: unknown option %q (want cert-authority, namespaces=, valid-after= or valid-before=)", opt)
		}
		unquoted, err := dequote(value)
		if err != nil {
			return fmt.Errorf("options: %s: %w", name, err)
		}
		switch name {
		case "namespaces":
			if s.Namespaces, err = splitPatternList(unquoted); err != nil {
				return fmt.Errorf("options: namespaces: %w", err)
			}
		case "valid-after":
			if s.ValidAfter, err = parseSignerTime(unquoted); err != nil {
				return fmt.Errorf("options: valid-after: %w", err)
			}
		case "valid-before":
			if s.ValidBefore, err = parseSignerTime(unquoted); err != nil {
				return fmt.Errorf("options: valid-before: %w", err)
			}
		default:
			return fmt.Errorf("options: unknown option %q (want cert-authority, namespaces=, valid-after= or valid-before=)", name)
		}
	}
	if !s.ValidAfter.IsZero() && !s.ValidBefore.IsZero() && !s.ValidBefore.After(s.ValidAfter) {
		return fmt.Errorf("options: valid-before %s is not after valid-after %s", s.ValidBefore.Format(time.RFC3339), s.ValidAfter.Format(time.RFC3339))
	}
	return nil
}

// dequote reads a double-quoted option value, unescaping \".
func dequote(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("value %s must be in double quotes", v)
	}
	inner := v[1 : len(v)-1]
	unescaped := strings.ReplaceAll(inner, `\"`, `"`)
	if strings.Count(unescaped, `"`) != strings.Count(inner, `\"`) {
		return "", fmt.Errorf("value %s has a stray double quote", v)
	}
	return unescaped, nil
}

func splitPatternList(list string) ([]string, error) {
	patterns := strings.Split(list, ",")
	for _, p := range patterns {
		if p == "" || p == "!" {
			return nil, fmt.Errorf("empty pattern in %q", list)
		}
	}
	return patterns, nil
}

// parseSignerTime reads YYYYMMDD[HHMM[SS]]Z as UTC.
func parseSignerTime(v string) (time.Time, error) {
	digits, utc := strings.CutSuffix(v, "Z")
	if !utc {
		return time.Time{}, fmt.Errorf("time %q has no Z suffix; write %sZ (rewind reads these times as UTC only)", v, v)
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(digits)]
	if !ok || strings.Trim(digits, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("time %q is not YYYYMMDD[HHMM[SS]]Z", v)
	}
	t, err := time.ParseInLocation(layout, digits, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", v, err)
	}
	return t, nil
}

// parsePublicKey reads "keytype base64 [comment]" and refuses certificates
// and key types rewind does not verify.
func parsePublicKey(s string) (ssh.PublicKey, string, error) {
	keyType, rest := cutBlank(s)
	encoded, comment := cutBlank(rest)
	if err := checkKeyType(keyType); err != nil {
		return nil, "", fmt.Errorf("key: %w", err)
	}
	if encoded == "" {
		return nil, "", fmt.Errorf("key: missing base64 after %s", keyType)
	}
	blob, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, "", fmt.Errorf("key: decode base64: %w", err)
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, "", fmt.Errorf("key: %w", err)
	}
	if key.Type() != keyType {
		return nil, "", fmt.Errorf("key: says %s but holds %s", keyType, key.Type())
	}
	return key, strings.TrimSpace(comment), nil
}

// matchPatternList decides like OpenSSH's match_pattern_list: a matching
// negated pattern (!pat) refuses outright, otherwise any match accepts.
func matchPatternList(s string, patterns []string) bool {
	matched := false
	for _, p := range patterns {
		negated := strings.HasPrefix(p, "!")
		if matchPattern(s, strings.TrimPrefix(p, "!")) {
			if negated {
				return false
			}
			matched = true
		}
	}
	return matched
}

// matchPattern matches s against a pattern where * is any run of bytes and
// ? any one byte, byte-wise as OpenSSH does.
func matchPattern(s, pattern string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == s[si]):
			si++
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
