package backups

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDrillsKeepTheLatestOfEachBackupApartFromVerdicts(t *testing.T) {
	state := t.TempDir()
	drills := Drills{Dir: DrillsDir(state)}
	at := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	name := "questdb_backup_20261203_030000.tar.gz"
	if err := drills.Record("prod", Drill{Name: name, At: at, OK: false, Detail: "database did not start"}); err != nil {
		t.Fatal(err)
	}
	if err := drills.Record("prod", Drill{Name: name, At: at.Add(time.Hour), OK: true, Seconds: 4.2}); err != nil {
		t.Fatal(err)
	}
	got, err := drills.Load("prod")
	if err != nil {
		t.Fatal(err)
	}
	if d := got[name]; len(got) != 1 || !d.OK || !d.At.Equal(at.Add(time.Hour)) {
		t.Fatalf("drills = %+v, want the second drill only", got)
	}
	if v, _ := (Verdicts{Dir: VerdictsDir(state)}).Load("prod"); len(v) != 0 {
		t.Fatalf("a drill was read as a verdict: %+v", v)
	}
	if none, err := drills.Load("staging"); err != nil || len(none) != 0 {
		t.Fatalf("a stack without drills: %v, %v", none, err)
	}
	bad := filepath.Join(DrillsDir(state), "prod", "torn.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := drills.Load("prod"); err == nil {
		t.Fatal("a torn drill file was read without an error")
	}
}

// A record that cannot be read is named, and the others still come back.
func TestDrillsLoadNamesAnUnreadableRecordAndKeepsTheRest(t *testing.T) {
	drills := Drills{Dir: t.TempDir()}
	require.NoError(t, drills.Record("prod", Drill{Name: "a.tar.gz", OK: true, SHA256: "aa"}))
	require.NoError(t, os.WriteFile(filepath.Join(drills.Dir, "prod", "b.tar.gz.json"), []byte("{"), 0o600))
	got, err := drills.Load("prod")
	require.ErrorContains(t, err, "b.tar.gz.json")
	require.True(t, got["a.tar.gz"].OK)
}

// A drill speaks only of the file it restored.
func TestADrillIsOfTheFileItRestored(t *testing.T) {
	all := map[string]Drill{"a.tar.gz": {Name: "a.tar.gz", SHA256: "aa", OK: true}}
	_, ok := LatestFor(all, "a.tar.gz", "bb")
	require.False(t, ok, "replaced under the same name")
	d, ok := LatestFor(all, "a.tar.gz", "aa")
	require.True(t, ok)
	require.True(t, d.OK)
}
