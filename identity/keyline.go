package identity

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// KeyLine is one authorized_keys line of a person's keys in the policy
// (approvers[].keys) with the one option Rewind honours: expiry-time.
type KeyLine struct {
	Key ssh.PublicKey
	// ExpiryTime is zero when the key does not expire; the key is refused after it, as
	// sshd refuses a key whose expiry-time has passed.
	ExpiryTime time.Time
	// ValidAfter is zero when the key is good from the start: only a line the worker
	// recorded from an allowed signers line's valid-after carries one.
	ValidAfter time.Time
}

// ParseKeyLine reads an authorized_keys line. Options Rewind cannot honour (from=,
// cert-authority, command=, …) are refused by name rather than dropped: a key that
// sshd would restrict must not count everywhere here.
func ParseKeyLine(line string) (KeyLine, error) { return parseKeyLine(line, false) }

// ParseRecordedKeyLine reads a key line as the worker records it in a rollback's plan:
// an authorized_keys line that may also carry valid-after (from an allowed signers line).
func ParseRecordedKeyLine(line string) (KeyLine, error) { return parseKeyLine(line, true) }

func parseKeyLine(line string, recorded bool) (KeyLine, error) {
	key, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return KeyLine{}, fmt.Errorf("parse key: %w", err)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return KeyLine{}, fmt.Errorf("one key per line: text after the key")
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return KeyLine{}, fmt.Errorf("a certificate is not supported by Rewind: list the plain public key")
	}
	if err := checkKeyType(key.Type()); err != nil {
		return KeyLine{}, err
	}
	k := KeyLine{Key: key}
	for _, opt := range options {
		name, value, hasValue := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		var field *time.Time
		switch {
		case name == "expiry-time" && hasValue:
			field = &k.ExpiryTime
		case name == "valid-after" && hasValue && recorded:
			field = &k.ValidAfter
		default:
			if hasValue {
				name += "="
			}
			return KeyLine{}, fmt.Errorf("option %s is not supported by Rewind: remove it", name)
		}
		if !field.IsZero() {
			return KeyLine{}, fmt.Errorf("option %s= given twice", name)
		}
		unquoted, err := dequote(value)
		if err != nil {
			return KeyLine{}, fmt.Errorf("option %s=: %w", name, err)
		}
		if *field, err = parseSignerTime(unquoted); err != nil {
			return KeyLine{}, fmt.Errorf("option %s=: %w", name, err)
		}
	}
	return k, nil
}

// ValidAt reports whether the key may be used at the given time; like sshd and
// ssh-keygen, a key is good in the seconds its expiry-time and valid-after name.
func (k KeyLine) ValidAt(at time.Time) bool {
	at = at.Truncate(time.Second)
	return (k.ExpiryTime.IsZero() || !at.After(k.ExpiryTime)) && (k.ValidAfter.IsZero() || !at.Before(k.ValidAfter))
}

// Window says when the key may be used, for a refusal: "expired at …" or "valid only
// from …".
func (k KeyLine) Window(at time.Time) string {
	if !k.ValidAfter.IsZero() && at.Before(k.ValidAfter) {
		return "is valid only from " + k.ValidAfter.UTC().Format(time.RFC3339) + " (its valid-after)"
	}
	return "expired at " + k.ExpiryTime.UTC().Format(time.RFC3339) + " (its expiry-time or valid-before)"
}

// KeysAt parses a person's recorded key lines and splits them into the keys valid at the
// given time and the ones outside their window; lines that do not parse count as neither.
func KeysAt(lines []string, at time.Time) (valid []ssh.PublicKey, outside []KeyLine) {
	for _, line := range lines {
		k, err := ParseRecordedKeyLine(line)
		switch {
		case err != nil:
		case k.ValidAt(at):
			valid = append(valid, k.Key)
		default:
			outside = append(outside, k)
		}
	}
	return valid, outside
}

// KeyHolder is a key and who holds it: a name and where the key was listed.
type KeyHolder struct {
	Key   ssh.PublicKey
	Name  string
	Where string // approvers[0].keys[1], allowed signers line 3, …
}

// SharedKeys says, for every key listed under two names or more, which ones, each
// naming where: one key is one person, or one person could start as one name and
// approve as the other. Holders are in the order given.
func SharedKeys(holders []KeyHolder) []string {
	var (
		order []string
		byKey = map[string][]KeyHolder{}
	)
	for _, h := range holders {
		fp := ssh.FingerprintSHA256(h.Key)
		if _, ok := byKey[fp]; !ok {
			order = append(order, fp)
		}
		byKey[fp] = append(byKey[fp], h)
	}
	var out []string
	for _, fp := range order {
		hs := byKey[fp]
		var names, where []string
		for _, h := range hs {
			if !slices.Contains(names, h.Name) {
				names = append(names, h.Name)
			}
			where = append(where, fmt.Sprintf("%s as %s", h.Where, h.Name))
		}
		if len(names) > 1 {
			out = append(out, fmt.Sprintf("key %s is listed under %s (%s): one key is one person; give each person their own key", fp, strings.Join(names, " and "), strings.Join(where, ", ")))
		}
	}
	return out
}

// Holders lists who each line of the file lets sign in namespace, among names: the
// principals a line's patterns match (a pattern like * may name several people).
func (list AllowedSigners) Holders(names []string, namespace string) []KeyHolder {
	var out []KeyHolder
	for _, s := range list {
		if s.CertAuthority || (s.Namespaces != nil && !matchPatternList(namespace, s.Namespaces)) {
			continue
		}
		for _, n := range names {
			if matchPatternList(n, s.Principals) {
				out = append(out, KeyHolder{Key: s.Key, Name: n, Where: fmt.Sprintf("allowed signers line %d", s.Line)})
			}
		}
	}
	return out
}
