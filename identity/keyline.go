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
}

// ParseKeyLine reads an authorized_keys line. Options Rewind cannot honour (from=,
// cert-authority, command=, …) are refused by name rather than dropped: a key that
// sshd would restrict must not count everywhere here.
func ParseKeyLine(line string) (KeyLine, error) {
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
		if name != "expiry-time" || !hasValue {
			if hasValue {
				name += "="
			}
			return KeyLine{}, fmt.Errorf("option %s is not supported by Rewind: remove it", name)
		}
		if !k.ExpiryTime.IsZero() {
			return KeyLine{}, fmt.Errorf("option expiry-time= given twice")
		}
		unquoted, err := dequote(value)
		if err != nil {
			return KeyLine{}, fmt.Errorf("option expiry-time=: %w", err)
		}
		if k.ExpiryTime, err = parseSignerTime(unquoted); err != nil {
			return KeyLine{}, fmt.Errorf("option expiry-time=: %w", err)
		}
	}
	return k, nil
}

// ValidAt reports whether the key may be used at the given time; like sshd, a key is
// still good in the second its expiry-time names.
func (k KeyLine) ValidAt(at time.Time) bool {
	return k.ExpiryTime.IsZero() || !at.Truncate(time.Second).After(k.ExpiryTime)
}

// KeysAt parses a person's key lines and splits them into the keys valid at the given
// time and the ones that expired; lines that do not parse count as neither.
func KeysAt(lines []string, at time.Time) (valid []ssh.PublicKey, expired []KeyLine) {
	for _, line := range lines {
		k, err := ParseKeyLine(line)
		switch {
		case err != nil:
		case k.ValidAt(at):
			valid = append(valid, k.Key)
		default:
			expired = append(expired, k)
		}
	}
	return valid, expired
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
