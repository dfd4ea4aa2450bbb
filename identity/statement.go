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
	"crypto/sha256"
	"encoding/hex"
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

// StatementHeader is the first line of a start's statement; DecisionHeader that of a
// decision's. A new format gets a new version so old signatures can never be read with new
// meaning: a start signed as v1 bound too little (not the stack, the flags, the reason, a
// nonce) and is refused; decisions kept their v1 form, which binds all they decide.
const (
	StatementHeader = "rewind signed statement v2"
	DecisionHeader  = "rewind signed statement v1"
)

// ErrOlderStatement is a start statement signed by a release before v2 statements.
var ErrOlderStatement = errors.New("signed by an older rewind: sign again")

// Actions a statement can carry.
const (
	ActionStartFull      = "start full"
	ActionStartQuick     = "start quick"
	ActionStartGit       = "start git"
	ActionStartEmergency = "start emergency"
	// ActionStartBackup starts `rewind backup` (and the backup `rewind deployed` takes).
	ActionStartBackup = "start backup"
	ActionApprove     = "approve"
	ActionReject      = "reject"
)

// expiresLayout writes UTC with a literal Z; parsing it never consults the
// local time zone.
const expiresLayout = "2006-01-02T15:04:05Z"

// Keys of the statement's lines, in the order Text writes them.
const (
	keyWorkflow  = "workflow"
	keyRun       = "run"
	keyPerson    = "person"
	keyAction    = "action"
	keySeverity  = "severity"
	keyBackup    = "backup"
	keyStack     = "stack"
	keyGroup     = "group"
	keyRef       = "ref"
	keyReset     = "reset"
	keyPinned    = "pinned-backup"
	keyNoPutBack = "no-put-back"
	keyReason    = "reason"
	keyNonce     = "nonce"
	keyExpires   = "expires"
)

// reasonPrefix starts a reason digest: the reason itself may be long or hold any text,
// so the statement binds its sha256.
const reasonPrefix = "sha256:"

// Statement is what a person signs: one decision about one rollback. Every
// field is bound by the signature, so a signature cannot be replayed for
// another stack, run, person, decision or backup, nor after it expires. A start
// binds everything the request decides and a nonce, which the worker claims once.
type Statement struct {
	WorkflowID string // rewind-<stack>, or rewind-group-<group>
	RunID      string // "" when starting: the run does not exist yet
	Person     string // name as the worker's policy lists it
	Action     string // one of the Action constants
	Severity   string // P1, P2 or P3
	Backup     string // sha256 (lowercase hex) of what an approval of a full rollback restores; "" for starts (the backup is picked, and approved, later)

	// What a start decides; empty in a decision.
	Stack        string // the stack, or "" for a group
	Group        string // the group, or "" for one stack
	Ref          string // version quick and git go back to ("" the default)
	Reset        bool   // git reset --hard instead of a detached checkout
	PinnedBackup string // the backup's name a full rollback must restore ("" the newest good)
	NoPutBack    bool   // leave a failed rollback's stack as it failed
	ReasonDigest string // ReasonDigest of the request's reason
	Nonce        string // random, 32 to 64 lowercase hex characters: a start is admitted once

	Expires time.Time // whole seconds; written and parsed as UTC
}

// IsStart reports whether the statement starts a rollback.
func (s Statement) IsStart() bool { return isStart(s.Action) }

func isStart(action string) bool { return strings.HasPrefix(action, "start ") }

// ReasonDigest is what a start statement binds of its reason.
func ReasonDigest(reason string) string {
	sum := sha256.Sum256([]byte(reason))
	return reasonPrefix + hex.EncodeToString(sum[:])
}

type statementLine struct{ key, value string }

// lines returns the statement's lines in canonical order: a decision's seven of v1, a
// start's fifteen of v2.
func (s Statement) lines() []statementLine {
	lines := []statementLine{
		{keyWorkflow, s.WorkflowID},
		{keyRun, s.RunID},
		{keyPerson, s.Person},
		{keyAction, s.Action},
		{keySeverity, s.Severity},
		{keyBackup, s.Backup},
	}
	if s.IsStart() {
		lines = append(lines,
			statementLine{keyStack, s.Stack},
			statementLine{keyGroup, s.Group},
			statementLine{keyRef, s.Ref},
			statementLine{keyReset, yesNo(s.Reset)},
			statementLine{keyPinned, s.PinnedBackup},
			statementLine{keyNoPutBack, yesNo(s.NoPutBack)},
			statementLine{keyReason, s.ReasonDigest},
			statementLine{keyNonce, s.Nonce},
		)
	}
	return append(lines, statementLine{keyExpires, s.Expires.UTC().Format(expiresLayout)})
}

func (s Statement) header() string {
	if s.IsStart() {
		return StatementHeader
	}
	return DecisionHeader
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Text returns the canonical bytes that are signed: the header, then one
// "key: value" line per field ("key:" alone when the value is empty), each
// ending in "\n". It is stable byte for byte for a valid statement; Sign
// refuses an invalid one, whose text could be ambiguous.
func (s Statement) Text() []byte {
	var b bytes.Buffer
	b.WriteString(s.header() + "\n")
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
	case ActionStartFull, ActionStartQuick, ActionStartGit, ActionStartEmergency, ActionStartBackup:
		// The run is created by the start, so a start cannot name one.
		if s.RunID != "" {
			return keyRun, fmt.Errorf("run must be empty for %q: a start creates the run", s.Action)
		}
		if key, err := s.checkStart(); err != nil {
			return key, err
		}
	case ActionApprove, ActionReject:
		if s.RunID == "" {
			return keyRun, fmt.Errorf("run is empty: %q needs the run it decides", s.Action)
		}
		if key, err := s.checkDecision(); err != nil {
			return key, err
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

// checkStart checks what only a start binds.
func (s Statement) checkStart() (string, error) {
	switch {
	case s.Stack == "" && s.Group == "":
		return keyStack, errors.New("stack and group are both empty: a start names the stack, or the group, it rolls back")
	case s.Stack != "" && s.Group != "":
		return keyGroup, fmt.Errorf("stack %q and group %q both given: a start rolls back one stack or one group", s.Stack, s.Group)
	case s.Backup != "":
		return keyBackup, errors.New("backup must be empty for a start: an approval names the backup it restores (pinned-backup names a pinned one)")
	}
	digest, ok := strings.CutPrefix(s.ReasonDigest, reasonPrefix)
	if !ok || !isSHA256Hex(digest) {
		return keyReason, fmt.Errorf("reason %q is not sha256: and 64 lowercase hex characters (ReasonDigest of the reason)", s.ReasonDigest)
	}
	if !isNonce(s.Nonce) {
		return keyNonce, fmt.Errorf("nonce %q is not 32 to 64 lowercase hex characters", s.Nonce)
	}
	return "", nil
}

// checkDecision keeps a decision's statement in its v1 form: nothing of a start.
func (s Statement) checkDecision() (string, error) {
	for _, f := range []struct{ key, value string }{
		{keyStack, s.Stack}, {keyGroup, s.Group}, {keyRef, s.Ref}, {keyPinned, s.PinnedBackup},
		{keyReason, s.ReasonDigest}, {keyNonce, s.Nonce},
	} {
		if f.value != "" {
			return f.key, fmt.Errorf("%s must be empty for %q: a decision binds the run it decides", f.key, s.Action)
		}
	}
	if s.Reset || s.NoPutBack {
		return keyReset, fmt.Errorf("reset and no-put-back must be false for %q: a decision binds the run it decides", s.Action)
	}
	return "", nil
}

func isNonce(s string) bool {
	if len(s) < 32 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allActions() []string {
	return []string{ActionStartFull, ActionStartQuick, ActionStartGit, ActionStartEmergency, ActionStartBackup, ActionApprove, ActionReject}
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
	// The header says which lines follow: a decision's (v1) or a start's (v2).
	var order []statementLine
	switch lines[0] {
	case StatementHeader:
		order = Statement{Action: ActionStartFull}.lines()
	case DecisionHeader:
		order = Statement{Action: ActionApprove}.lines()
	default:
		return Statement{}, fmt.Errorf("parse statement line 1: want header %q (a start) or %q (a decision), got %q", StatementHeader, DecisionHeader, lines[0])
	}
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
		WorkflowID:   values[keyWorkflow],
		RunID:        values[keyRun],
		Person:       values[keyPerson],
		Action:       values[keyAction],
		Severity:     values[keySeverity],
		Backup:       values[keyBackup],
		Stack:        values[keyStack],
		Group:        values[keyGroup],
		Ref:          values[keyRef],
		PinnedBackup: values[keyPinned],
		ReasonDigest: values[keyReason],
		Nonce:        values[keyNonce],
	}
	switch {
	case lines[0] == DecisionHeader && isStart(st.Action):
		// A v1 start bound neither the request's flags nor a nonce: it cannot count.
		return Statement{}, fmt.Errorf("parse statement: %q as %s: %w", st.Action, DecisionHeader, ErrOlderStatement)
	case lines[0] == StatementHeader && !isStart(st.Action):
		return Statement{}, fmt.Errorf("parse statement line %d: %q is signed as %q, not %q", lineOf[keyAction], st.Action, DecisionHeader, StatementHeader)
	}
	for _, b := range []struct {
		key string
		to  *bool
	}{{keyReset, &st.Reset}, {keyNoPutBack, &st.NoPutBack}} {
		if !st.IsStart() {
			break
		}
		switch values[b.key] {
		case "yes":
			*b.to = true
		case "no":
		default:
			return Statement{}, fmt.Errorf("parse statement line %d: %s %q: want yes or no", lineOf[b.key], b.key, values[b.key])
		}
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
