package backups

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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
