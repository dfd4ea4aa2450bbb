// Package identity proves who starts or approves a rollback with SSH keys, the
// way git's gpg.format=ssh does: a person signs a short Statement with
// `ssh-keygen -Y sign -n rewind` (or Sign, through ssh-agent or a key file),
// producing an SSHSIG signature, and the worker checks it against the keys its
// policy lists, usually in an OpenSSH allowed signers file.
//
// Everything on the verifying side (ParseStatement, Verify, Check,
// ParseAllowedSigners, ParsePublicKeys, AllowedSigners.KeysFor) is pure: no
// I/O, no clock, no randomness, no goroutines, so it may run inside a Temporal
// workflow's Update validator. The caller passes the time in.
package identity

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Namespace is the SSHSIG namespace of every rewind signature; a signature
// made for git (or anything else) is refused.
const Namespace = "rewind"

// StatementHeader is the first line of a statement's text. A new format gets
// a new version so old signatures can never be read with new meaning.
const StatementHeader = "rewind signed statement v1"

// Actions a statement can carry.
const (
	ActionStartFull      = "start full"
	ActionStartQuick     = "start quick"
	ActionStartGit       = "start git"
	ActionStartEmergency = "start emergency"
	ActionApprove        = "approve"
	ActionReject         = "reject"
)

// expiresLayout writes UTC with a literal Z; parsing it never consults the
// local time zone.
const expiresLayout = "2006-01-02T15:04:05Z"

// Keys of the statement's lines, in the order Text writes them.
const (
	keyWorkflow = "workflow"
	keyRun      = "run"
	keyPerson   = "person"
	keyAction   = "action"
	keySeverity = "severity"
	keyBackup   = "backup"
	keyExpires  = "expires"
)

// Statement is what a person signs: one decision about one rollback. Every
// field is bound by the signature, so a signature cannot be replayed for
// another stack, run, person, decision or backup, nor after it expires.
type Statement struct {
	WorkflowID string    // rewind-<stack>
	RunID      string    // "" when starting: the run does not exist yet
	Person     string    // name as the worker's policy lists it
	Action     string    // one of the Action constants
	Severity   string    // P1, P2 or P3
	Backup     string    // sha256 (lowercase hex) of what an approval of a full rollback restores; "" for starts (the backup is picked, and approved, later)
	Expires    time.Time // whole seconds; written and parsed as UTC
}

type statementLine struct{ key, value string }

// lines returns the statement's lines in canonical order.
func (s Statement) lines() []statementLine {
	return []statementLine{
		{keyWorkflow, s.WorkflowID},
		{keyRun, s.RunID},
		{keyPerson, s.Person},
		{keyAction, s.Action},
		{keySeverity, s.Severity},
		{keyBackup, s.Backup},
		{keyExpires, s.Expires.UTC().Format(expiresLayout)},
	}
}

// Text returns the canonical bytes that are signed: the header, then one
// "key: value" line per field ("key:" alone when the value is empty), each
// ending in "\n". It is stable byte for byte for a valid statement; Sign
// refuses an invalid one, whose text could be ambiguous.
func (s Statement) Text() []byte {
	var b bytes.Buffer
	b.WriteString(StatementHeader + "\n")
	for _, l := range s.lines() {
		b.WriteString(l.key + ":")
		if l.value != "" {
			b.WriteString(" " + l.value)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// Validate reports the first field that makes the statement unsignable.
func (s Statement) Validate() error {
	_, err := s.check()
	return err
}

// check validates s and returns the key of the offending line, so
// ParseStatement can name the line.
func (s Statement) check() (string, error) {
	for _, l := range s.lines() {
		if err := checkValue(l.value); err != nil {
			return l.key, fmt.Errorf("%s %q: %w", l.key, l.value, err)
		}
	}
	switch {
	case s.WorkflowID == "":
		return keyWorkflow, errors.New("workflow is empty")
	case s.Person == "":
		return keyPerson, errors.New("person is empty")
	}
	switch s.Action {
	case ActionStartFull, ActionStartQuick, ActionStartGit, ActionStartEmergency:
		// The run is created by the start, so a start cannot name one.
		if s.RunID != "" {
			return keyRun, fmt.Errorf("run must be empty for %q: a start creates the run", s.Action)
		}
	case ActionApprove, ActionReject:
		if s.RunID == "" {
			return keyRun, fmt.Errorf("run is empty: %q needs the run it decides", s.Action)
		}
	default:
		return keyAction, fmt.Errorf("action %q is not one of %q", s.Action, allActions())
	}
	if !slices.Contains([]string{"P1", "P2", "P3"}, s.Severity) {
		return keySeverity, fmt.Errorf("severity %q is not P1, P2 or P3", s.Severity)
	}
	if s.Backup != "" && !isSHA256Hex(s.Backup) {
		return keyBackup, fmt.Errorf("backup %q is not a sha256 in lowercase hex (64 characters)", s.Backup)
	}
	switch {
	case s.Expires.IsZero():
		return keyExpires, errors.New("expires is missing")
	case s.Expires.Nanosecond() != 0:
		return keyExpires, fmt.Errorf("expires %s has a fraction of a second: truncate to whole seconds", s.Expires.UTC().Format(time.RFC3339Nano))
	case s.Expires.UTC().Year() < 1 || s.Expires.UTC().Year() > 9999:
		return keyExpires, fmt.Errorf("expires %s is out of range", s.Expires.UTC())
	}
	return "", nil
}

func allActions() []string {
	return []string{ActionStartFull, ActionStartQuick, ActionStartGit, ActionStartEmergency, ActionApprove, ActionReject}
}

// checkValue keeps each value on its one line, without control characters
// or edge spaces, so no value can forge or blur another line.
func checkValue(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains control character %U", r)
		}
	}
	if strings.TrimSpace(v) != v {
		return errors.New("has leading or trailing space")
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ParseStatement reads the canonical text Text writes and nothing else:
// a wrong header, an unknown, missing, duplicate or misplaced line, a value
// that does not validate or any byte out of canonical form is an error that
// names the line.
func ParseStatement(text []byte) (Statement, error) {
	if !utf8.Valid(text) {
		return Statement{}, errors.New("parse statement: not valid UTF-8")
	}
	if len(text) == 0 {
		return Statement{}, errors.New("parse statement: empty")
	}
	if text[len(text)-1] != '\n' {
		return Statement{}, errors.New("parse statement: the last line does not end with a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if lines[0] != StatementHeader {
		return Statement{}, fmt.Errorf("parse statement line 1: want header %q, got %q", StatementHeader, lines[0])
	}

	order := Statement{}.lines()
	position := make(map[string]int, len(order)) // key -> index in canonical order
	for i, l := range order {
		position[l.key] = i
	}
	values := make(map[string]string, len(order))
	lineOf := make(map[string]int, len(order))
	previous := -1
	for i, line := range lines[1:] {
		n := i + 2
		key, value, err := splitStatementLine(line)
		if err != nil {
			return Statement{}, fmt.Errorf("parse statement line %d: %w", n, err)
		}
		pos, known := position[key]
		if !known {
			return Statement{}, fmt.Errorf("parse statement line %d: unknown key %q", n, key)
		}
		if first, seen := lineOf[key]; seen {
			return Statement{}, fmt.Errorf("parse statement line %d: duplicate %q (first on line %d)", n, key, first)
		}
		if pos < previous {
			return Statement{}, fmt.Errorf("parse statement line %d: %q is out of order: want %s", n, key, keyList(order))
		}
		previous = pos
		values[key] = value
		lineOf[key] = n
	}
	var missing []string
	for _, l := range order {
		if _, ok := lineOf[l.key]; !ok {
			missing = append(missing, l.key)
		}
	}
	if len(missing) > 0 {
		return Statement{}, fmt.Errorf("parse statement: missing %s", strings.Join(quoteAll(missing), ", "))
	}

	st := Statement{
		WorkflowID: values[keyWorkflow],
		RunID:      values[keyRun],
		Person:     values[keyPerson],
		Action:     values[keyAction],
		Severity:   values[keySeverity],
		Backup:     values[keyBackup],
	}
	expires, err := time.ParseInLocation(expiresLayout, values[keyExpires], time.UTC)
	if err != nil || expires.Format(expiresLayout) != values[keyExpires] {
		return Statement{}, fmt.Errorf("parse statement line %d: expires %q is not a UTC time like 2006-01-02T15:04:05Z", lineOf[keyExpires], values[keyExpires])
	}
	st.Expires = expires
	if key, err := st.check(); err != nil {
		return Statement{}, fmt.Errorf("parse statement line %d: %w", lineOf[key], err)
	}
	// Belt and braces: whatever was accepted must be the canonical text.
	if !bytes.Equal(st.Text(), text) {
		return Statement{}, errors.New("parse statement: not in canonical form")
	}
	return st, nil
}

// splitStatementLine splits "key: value" or "key:" (empty value).
func splitStatementLine(line string) (key, value string, err error) {
	key, rest, found := strings.Cut(line, ":")
	switch {
	case line == "":
		return "", "", errors.New("empty line")
	case !found:
		return "", "", fmt.Errorf("want \"key: value\", got %q", line)
	case rest == "":
		return key, "", nil
	case !strings.HasPrefix(rest, " ") || rest == " ":
		return "", "", fmt.Errorf("want one space after %q, then the value (or nothing after the colon when empty)", key+":")
	}
	value = rest[1:]
	if err := checkValue(value); err != nil {
		return "", "", fmt.Errorf("%s %q: %w", key, value, err)
	}
	return key, value, nil
}

func keyList(lines []statementLine) string {
	keys := make([]string, len(lines))
	for i, l := range lines {
		keys[i] = l.key
	}
	return strings.Join(keys, ", ")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
