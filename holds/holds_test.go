package holds

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSweepReleasesOnlyTheHoldsOfClosedRuns(t *testing.T) {
	l := Ledger{Dir: Dir(t.TempDir())}
	at := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	for _, h := range []Hold{
		{WorkflowID: "rewind-a-backup", RunID: "closed", Mode: "pause", Project: "a", Containers: []string{"a-db-1"}, At: at},
		{WorkflowID: "rewind-b-backup", RunID: "open", Mode: "checkpoint", DatabaseURL: "http://b:9000", At: at},
		{WorkflowID: "rewind-c-backup", RunID: "unknown", Mode: "stop", Project: "c", At: at},
		{WorkflowID: "rewind-d-backup", RunID: "closed", Mode: "pause", Project: "d", At: at},
	} {
		if err := l.Put(h); err != nil {
			t.Fatal(err)
		}
	}
	open := func(_ context.Context, id, run string) (bool, error) {
		switch run {
		case "open":
			return true, nil
		case "unknown":
			return false, errors.New("temporal is down")
		}
		return false, nil
	}
	var released []string
	release := func(_ context.Context, h Hold) error {
		if h.Project == "d" {
			return errors.New("engine refused")
		}
		released = append(released, h.WorkflowID)
		return nil
	}
	got, err := l.Sweep(context.Background(), open, release)
	if err == nil {
		t.Fatal("a hold that could not be asked about or released was not reported")
	}
	if len(got) != 1 || got[0].WorkflowID != "rewind-a-backup" || len(released) != 1 {
		t.Fatalf("released %v (%v), want only rewind-a-backup", got, released)
	}
	left, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 3 {
		t.Fatalf("ledger keeps %d holds, want the open, the unknown and the unreleased ones: %+v", len(left), left)
	}
}

func TestDropLeavesANewerRunsHold(t *testing.T) {
	l := Ledger{Dir: Dir(t.TempDir())}
	if err := l.Put(Hold{WorkflowID: "rewind-a-backup", RunID: "second", Mode: "pause"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Drop("rewind-a-backup", "first"); err != nil {
		t.Fatal(err)
	}
	if left, _ := l.List(); len(left) != 1 {
		t.Fatalf("the first run's release dropped the second run's hold: %+v", left)
	}
	if err := l.Drop("rewind-a-backup", "second"); err != nil {
		t.Fatal(err)
	}
	if left, _ := l.List(); len(left) != 0 {
		t.Fatalf("a released hold stays: %+v", left)
	}
	if err := (Ledger{}).Put(Hold{WorkflowID: "x"}); err != nil {
		t.Fatal("the zero ledger keeps nothing and fails nothing")
	}
}
