package identity

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testNow is the fixed "now" every test verifies at.
func testNow() time.Time { return time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC) }

const testBackup = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func startStatement() Statement {
	return Statement{
		WorkflowID: "rewind-algotrendy",
		Person:     "alice",
		Action:     ActionStartFull,
		Severity:   "P1",
		Backup:     testBackup,
		Expires:    testNow().Add(15 * time.Minute),
	}
}

func approveStatement() Statement {
	return Statement{
		WorkflowID: "rewind-algotrendy",
		RunID:      "0198c4f2-7a51-7cde-9a3b-2f1e0c6d5b4a",
		Person:     "bob",
		Action:     ActionApprove,
		Severity:   "P2",
		Expires:    testNow().Add(15 * time.Minute),
	}
}

func TestStatementTextIsCanonical(t *testing.T) {
	want := "rewind signed statement v1\n" +
		"workflow: rewind-algotrendy\n" +
		"run:\n" +
		"person: alice\n" +
		"action: start full\n" +
		"severity: P1\n" +
		"backup: " + testBackup + "\n" +
		"expires: 2026-07-01T12:15:00Z\n"
	require.Equal(t, want, string(startStatement().Text()))

	// The same instant in another zone writes the same bytes.
	st := startStatement()
	st.Expires = st.Expires.In(time.FixedZone("CEST", 2*60*60))
	require.Equal(t, want, string(st.Text()))
}

func TestStatementRoundTrips(t *testing.T) {
	for _, st := range []Statement{startStatement(), approveStatement()} {
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
	replace := func(old, new string) string {
		require.Contains(t, good, old)
		return strings.Replace(good, old, new, 1)
	}
	tests := []struct {
		name, text, wantErr string
	}{
		{"empty", "", "parse statement: empty"},
		{"no final newline", strings.TrimSuffix(good, "\n"), "does not end with a newline"},
		{"wrong header", replace("v1", "v2"), `line 1: want header "rewind signed statement v1"`},
		{"unknown line", replace("severity: P1\n", "severity: P1\ncolour: red\n"), `line 7: unknown key "colour"`},
		{"duplicate line", replace("person: alice\n", "person: alice\nperson: mallory\n"), `line 5: duplicate "person" (first on line 4)`},
		{"missing lines", replace("run:\n", ""), `missing "run"`},
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
		{"unknown action", replace("start full", "deploy"), `line 5: action "deploy" is not one of`},
		{"lowercase severity", replace("P1", "p1"), `line 6: severity "p1" is not P1, P2 or P3`},
		{"short backup", replace(testBackup, testBackup[:63]), "line 7: backup"},
		{"uppercase backup", replace(testBackup, strings.ToUpper(testBackup)), "is not a sha256 in lowercase hex"},
		{"start naming a run", replace("run:\n", "run: abc\n"), `line 3: run must be empty for "start full"`},
		{"approve without run", replace("start full", "approve"), `line 3: run is empty: "approve" needs the run`},
		{"empty workflow", replace("workflow: rewind-algotrendy", "workflow:"), "line 2: workflow is empty"},
		{"empty person", replace("person: alice", "person:"), "line 4: person is empty"},
		{"offset instead of Z", replace("12:15:00Z", "14:15:00+02:00"), `line 8: expires "2026-07-01T14:15:00+02:00" is not a UTC time`},
		{"fractional seconds", replace("12:15:00Z", "12:15:00.5Z"), "line 8: expires"},
		{"date only", replace("2026-07-01T12:15:00Z", "2026-07-01"), "line 8: expires"},
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
		{"valid quick start without backup", func(s *Statement) { s.Action, s.Backup = ActionStartQuick, "" }, ""},
		{"newline in person", func(s *Statement) { s.Person = "alice\nrun: x" }, "contains control character U+000A"},
		{"no expiry", func(s *Statement) { s.Expires = time.Time{} }, "expires is missing"},
		{"fraction of a second", func(s *Statement) { s.Expires = s.Expires.Add(time.Millisecond) }, "truncate to whole seconds"},
		{"reject without run", func(s *Statement) { s.Action = ActionReject; s.Backup = "" }, `"reject" needs the run`},
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
