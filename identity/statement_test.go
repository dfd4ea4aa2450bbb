package identity

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testNow is the fixed "now" every test verifies at.
func testNow() time.Time { return time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC) }

const (
	testBackup = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	testNonce  = "0123456789abcdef0123456789abcdef"
)

func startStatement() Statement {
	return Statement{
		WorkflowID:   "rewind-algotrendy",
		Person:       "alice",
		Action:       ActionStartFull,
		Severity:     "P1",
		Stack:        "algotrendy",
		PinnedBackup: "questdb_backup_20261125_020000.tar.gz",
		NoPutBack:    true,
		ReasonDigest: ReasonDigest("market_data corrupted"),
		Nonce:        testNonce,
		Expires:      testNow().Add(15 * time.Minute),
	}
}

func groupStartStatement() Statement {
	return Statement{
		WorkflowID:   "rewind-group-markets",
		Person:       "alice",
		Action:       ActionStartQuick,
		Severity:     "P2",
		Group:        "markets",
		Ref:          "v2.5",
		Reset:        true,
		ReasonDigest: ReasonDigest("API 500s after deploy"),
		Nonce:        testNonce + testNonce,
		Expires:      testNow().Add(5 * time.Minute),
	}
}

func approveStatement() Statement {
	return Statement{
		WorkflowID: "rewind-algotrendy",
		RunID:      "0198c4f2-7a51-7cde-9a3b-2f1e0c6d5b4a",
		Person:     "bob",
		Action:     ActionApprove,
		Severity:   "P2",
		Backup:     testBackup,
		Expires:    testNow().Add(15 * time.Minute),
	}
}

func TestStatementTextIsCanonical(t *testing.T) {
	want := "rewind signed statement v2\n" +
		"workflow: rewind-algotrendy\n" +
		"run:\n" +
		"person: alice\n" +
		"action: start full\n" +
		"severity: P1\n" +
		"backup:\n" +
		"stack: algotrendy\n" +
		"group:\n" +
		"ref:\n" +
		"reset: no\n" +
		"pinned-backup: questdb_backup_20261125_020000.tar.gz\n" +
		"no-put-back: yes\n" +
		"reason: sha256:a7ee5ba4b7d4d4d2ec4b1e8c3e0d4f7a3c9e6f0d1b2a3c4d5e6f708192a3b4c5\n" +
		"nonce: " + testNonce + "\n" +
		"expires: 2026-07-01T12:15:00Z\n"
	want = strings.Replace(want, "sha256:a7ee5ba4b7d4d4d2ec4b1e8c3e0d4f7a3c9e6f0d1b2a3c4d5e6f708192a3b4c5", ReasonDigest("market_data corrupted"), 1)
	require.Equal(t, want, string(startStatement().Text()))

	// A decision keeps the v1 form: the run it decides binds it to everything else.
	require.Equal(t, "rewind signed statement v1\n"+
		"workflow: rewind-algotrendy\n"+
		"run: 0198c4f2-7a51-7cde-9a3b-2f1e0c6d5b4a\n"+
		"person: bob\n"+
		"action: approve\n"+
		"severity: P2\n"+
		"backup: "+testBackup+"\n"+
		"expires: 2026-07-01T12:15:00Z\n", string(approveStatement().Text()))

	// The same instant in another zone writes the same bytes.
	st := startStatement()
	st.Expires = st.Expires.In(time.FixedZone("CEST", 2*60*60))
	require.Equal(t, want, string(st.Text()))
}

func TestStatementRoundTrips(t *testing.T) {
	for _, st := range []Statement{startStatement(), groupStartStatement(), approveStatement()} {
		t.Run(st.Action, func(t *testing.T) {
			parsed, err := ParseStatement(st.Text())
			require.NoError(t, err)
			require.Equal(t, st, parsed)
			require.Equal(t, st.Text(), parsed.Text())
		})
	}
}

func TestParseStatementRefusesMalformedText(t *testing.T) {
	good := string(startStatement().Text())
	decision := string(approveStatement().Text())
	replace := func(old, new string) string {
		require.Contains(t, good, old)
		return strings.Replace(good, old, new, 1)
	}
	tests := []struct {
		name, text, wantErr string
	}{
		{"empty", "", "parse statement: empty"},
		{"no final newline", strings.TrimSuffix(good, "\n"), "does not end with a newline"},
		{"wrong header", replace("v2", "v3"), `line 1: want header "rewind signed statement v2" (a start) or "rewind signed statement v1" (a decision)`},
		{"unknown line", replace("severity: P1\n", "severity: P1\ncolour: red\n"), `line 7: unknown key "colour"`},
		{"duplicate line", replace("person: alice\n", "person: alice\nperson: mallory\n"), `line 5: duplicate "person" (first on line 4)`},
		{"missing lines", replace("run:\n", ""), `missing "run"`},
		{"missing nonce", replace("nonce: "+testNonce+"\n", ""), `missing "nonce"`},
		{"out of order", replace("run:\nperson: alice\n", "person: alice\nrun:\n"), `line 4: "run" is out of order`},
		{"blank line", replace("run:\n", "run:\n\n"), "line 4: empty line"},
		{"no colon", replace("run:\n", "run\n"), `line 3: want "key: value", got "run"`},
		{"no space after colon", replace("person: alice", "person:alice"), "line 4: want one space after"},
		{"empty value with a space", replace("run:\n", "run: \n"), "line 3: want one space after"},
		{"two spaces", replace("person: alice", "person:  alice"), `line 4: person " alice": has leading or trailing space`},
		{"trailing space", replace("person: alice", "person: alice "), "line 4: person \"alice \": has leading or trailing space"},
		{"carriage return", strings.ReplaceAll(good, "\n", "\r\n"), `line 1: want header`},
		{"control character", replace("person: alice", "person: al\x1bice"), "line 4: person \"al\\x1bice\": contains control character U+001B"},
		{"invalid UTF-8", replace("alice", "al\xffice"), "not valid UTF-8"},
		{"unknown action", replace("start full", "start deploy"), `line 5: action "start deploy" is not one of`},
		{"lowercase severity", replace("P1", "p1"), `line 6: severity "p1" is not P1, P2 or P3`},
		{"start naming a backup", replace("backup:\n", "backup: "+testBackup+"\n"), "line 7: backup must be empty for a start"},
		{"short backup", strings.Replace(decision, testBackup, testBackup[:63], 1), "line 7: backup"},
		{"uppercase backup", strings.Replace(decision, testBackup, strings.ToUpper(testBackup), 1), "is not a sha256 in lowercase hex"},
		{"start naming a run", replace("run:\n", "run: abc\n"), `line 3: run must be empty for "start full"`},
		{"decision as v2", replace("start full", "approve"), `line 5: "approve" is signed as "rewind signed statement v1", not "rewind signed statement v2"`},
		{"approve without run", strings.Replace(decision, "run: 0198c4f2-7a51-7cde-9a3b-2f1e0c6d5b4a\n", "run:\n", 1), `line 3: run is empty: "approve" needs the run`},
		{"start as v1", "rewind signed statement v1\nworkflow: rewind-algotrendy\nrun:\nperson: alice\naction: start full\nseverity: P1\nbackup:\nexpires: 2026-07-01T12:15:00Z\n",
			`parse statement: "start full" as rewind signed statement v1: signed by an older rewind: sign again`},
		{"empty workflow", replace("workflow: rewind-algotrendy", "workflow:"), "line 2: workflow is empty"},
		{"empty person", replace("person: alice", "person:"), "line 4: person is empty"},
		{"no stack nor group", replace("stack: algotrendy", "stack:"), "line 8: stack and group are both empty"},
		{"stack and group", replace("group:", "group: markets"), `line 9: stack "algotrendy" and group "markets" both given`},
		{"reset neither yes nor no", replace("reset: no", "reset: true"), `line 11: reset "true": want yes or no`},
		{"no-put-back empty", replace("no-put-back: yes", "no-put-back:"), `line 13: no-put-back "": want yes or no`},
		{"reason in clear", replace(ReasonDigest("market_data corrupted"), "market_data corrupted"), `line 14: reason "market_data corrupted" is not sha256:`},
		{"short nonce", replace(testNonce, testNonce[:31]), "line 15: nonce"},
		{"uppercase nonce", replace(testNonce, strings.ToUpper(testNonce)), "is not 32 to 64 lowercase hex characters"},
		{"offset instead of Z", replace("12:15:00Z", "14:15:00+02:00"), `line 16: expires "2026-07-01T14:15:00+02:00" is not a UTC time`},
		{"fractional seconds", replace("12:15:00Z", "12:15:00.5Z"), "line 16: expires"},
		{"date only", replace("2026-07-01T12:15:00Z", "2026-07-01"), "line 16: expires"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStatement([]byte(tt.text))
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestStatementValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Statement)
		wantErr string
	}{
		{"valid start", func(*Statement) {}, ""},
		{"valid quick start without a pinned backup", func(s *Statement) { s.Action, s.PinnedBackup = ActionStartQuick, "" }, ""},
		{"start without a nonce", func(s *Statement) { s.Nonce = "" }, `nonce "" is not 32 to 64 lowercase hex characters`},
		{"start without a reason", func(s *Statement) { s.ReasonDigest = "" }, `reason "" is not sha256:`},
		{"decision naming a stack", func(s *Statement) { s.Action, s.RunID = ActionApprove, "run-1" }, `stack must be empty for "approve"`},
		{"newline in person", func(s *Statement) { s.Person = "alice\nrun: x" }, "contains control character U+000A"},
		{"no expiry", func(s *Statement) { s.Expires = time.Time{} }, "expires is missing"},
		{"fraction of a second", func(s *Statement) { s.Expires = s.Expires.Add(time.Millisecond) }, "truncate to whole seconds"},
		{"reject without run", func(s *Statement) {
			s.Action = ActionReject
			s.Stack, s.PinnedBackup, s.ReasonDigest, s.Nonce = "", "", "", ""
		}, `"reject" needs the run`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := startStatement()
			tt.edit(&st)
			err := st.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
