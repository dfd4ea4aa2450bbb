package holds

import (
	"context"
	"errors"
	"testing"
	"time"
)

var at = time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)

func TestSweepReleasesOnlyTheHoldsOfClosedRuns(t *testing.T) {
	l := Ledger{Dir: Dir(t.TempDir())}
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
	got, err := l.Sweep(context.Background(), at.Add(time.Hour), open, release)
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

// A closed run's step may still be pausing or stopping until its deadline: the hold is
// released again by every sweep until then, reported once, and forgotten after.
func TestAHoldIsReleasedUntilItsStepsDeadlineThenForgotten(t *testing.T) {
	l := Ledger{Dir: Dir(t.TempDir())}
	if err := l.Put(Hold{WorkflowID: "rewind-a-backup", RunID: "terminated", Mode: "stop", Project: "a", At: at, Until: at.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	closed := func(context.Context, string, string) (bool, error) { return false, nil }
	releases := 0
	release := func(context.Context, Hold) error { releases++; return nil }
	for i, sweep := range []struct {
		at       time.Time
		reported int
		left     int
	}{
		{at.Add(time.Minute), 1, 1},
		{at.Add(2 * time.Minute), 0, 1},
		{at.Add(6 * time.Minute), 0, 0},
	} {
		got, err := l.Sweep(context.Background(), sweep.at, closed, release)
		if err != nil {
			t.Fatal(err)
		}
		left, _ := l.List()
		if len(got) != sweep.reported || len(left) != sweep.left || releases != i+1 {
			t.Fatalf("sweep %d: reported %d, %d left, %d releases; want %d, %d, %d", i, len(got), len(left), releases, sweep.reported, sweep.left, i+1)
		}
	}
}

// A newer run of the same backup that takes its hold while a sweep asks about the old
// run keeps it: the sweep reads the ledger again under its lock before releasing.
func TestASweepLeavesTheHoldANewerRunTookMeanwhile(t *testing.T) {
	l := Ledger{Dir: Dir(t.TempDir())}
	if err := l.Put(Hold{WorkflowID: "rewind-a-backup", RunID: "terminated", Mode: "pause", Project: "a", At: at}); err != nil {
		t.Fatal(err)
	}
	open := func(_ context.Context, id, run string) (bool, error) {
		if err := l.Put(Hold{WorkflowID: id, RunID: "next", Mode: "pause", Project: "a", At: at}); err != nil {
			t.Fatal(err)
		}
		return run != "terminated", nil
	}
	release := func(_ context.Context, h Hold) error {
		t.Fatalf("released %+v, which the next run holds now", h)
		return nil
	}
	if got, err := l.Sweep(context.Background(), at, open, release); err != nil || len(got) != 0 {
		t.Fatalf("sweep: %v, %v", got, err)
	}
	left, _ := l.List()
	if len(left) != 1 || left[0].RunID != "next" {
		t.Fatalf("ledger: %+v, want the next run's hold", left)
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
