// Package holds is the Docker host's ledger of the holds Rewind's backups take on a
// database (a pause, a stop, a checkpoint). A run that is terminated or times out runs
// none of its own release, so the worker reads the ledger and lets go what no open run
// holds any more: a backup never leaves a database paused behind it.
package holds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/algotrendy/rewind/records"
)

// Hold is one run's hold, written before the hold is taken and removed once released.
type Hold struct {
	WorkflowID string
	RunID      string
	// Mode is pause, stop or checkpoint.
	Mode string
	// Project and Containers are what a pause or stop holds.
	Project    string   `json:",omitempty"`
	Containers []string `json:",omitempty"`
	// DatabaseURL is the database a checkpoint is held in.
	DatabaseURL string `json:",omitempty"`
	At          time.Time
	// Until is when the step taking the hold is done at the latest: until then a run that
	// has closed may still have it pausing or stopping, so a sweep releases it again.
	Until time.Time `json:",omitempty"`
	// Released is when a sweep first let the hold go.
	Released time.Time `json:",omitempty"`
}

// Ledger keeps the holds in a folder of the worker's state, one file per workflow ID. The
// zero Ledger keeps nothing (a step run outside a worker).
type Ledger struct {
	Dir string
}

// Dir is where a host keeps its ledger, under its worker.state_dir.
func Dir(stateDir string) string { return filepath.Join(stateDir, "holds") }

// Put records h before it is taken.
func (l Ledger) Put(h Hold) error {
	if l.Dir == "" {
		return nil
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := records.Write(l.Dir, h.WorkflowID, h); err != nil {
		return fmt.Errorf("record the hold of %s before taking it: %w", h.WorkflowID, err)
	}
	return nil
}

// Drop forgets the hold of this run once it is released; a newer run's hold under the
// same workflow ID stays.
func (l Ledger) Drop(workflowID, runID string) error {
	if l.Dir == "" {
		return nil
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return l.drop(workflowID, runID)
}

func (l Ledger) drop(workflowID, runID string) error {
	h, found, err := records.Read[Hold](l.Dir, workflowID)
	if err != nil || !found || h.RunID != runID {
		return err
	}
	return records.Remove(l.Dir, workflowID)
}

// lock serialises, across the host's processes, a hold being recorded with a sweep
// deciding whether to let it go: a sweep never releases a hold a newer run just took.
func (l Ledger) lock() (unlock func(), err error) {
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock the hold ledger: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the hold ledger: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the hold ledger: %w", err)
	}
	return func() { f.Close() }, nil
}

// List returns every hold in the ledger.
func (l Ledger) List() ([]Hold, error) {
	if l.Dir == "" {
		return nil, nil
	}
	return records.All[Hold](l.Dir)
}

// Sweep releases every hold whose run is no longer open. A released hold leaves the
// ledger once the step that took it is past its deadline (it may still be pausing or
// stopping for a closed run: the next sweep releases that too); a hold whose run cannot
// be asked about stays for the next sweep. It returns the holds it let go of for the
// first time. release runs under the ledger's lock: it must not Put or Drop.
func (l Ledger) Sweep(ctx context.Context, now time.Time, open func(ctx context.Context, workflowID, runID string) (bool, error), release func(context.Context, Hold) error) ([]Hold, error) {
	all, err := l.List()
	if err != nil {
		return nil, err
	}
	var released []Hold
	var errs []error
	for _, h := range all {
		running, err := open(ctx, h.WorkflowID, h.RunID)
		if err != nil {
			errs = append(errs, fmt.Errorf("ask whether %s is still open: %w", h.WorkflowID, err))
			continue
		}
		if running {
			continue
		}
		first, err := l.sweepOne(ctx, h, now, release)
		if err != nil {
			errs = append(errs, err)
		}
		if first {
			released = append(released, h)
		}
	}
	return released, errors.Join(errs...)
}

// sweepOne releases a closed run's hold if the ledger still holds it for that run, and
// drops it once its taking step is past its deadline; first says this was the first
// release.
func (l Ledger) sweepOne(ctx context.Context, h Hold, now time.Time, release func(context.Context, Hold) error) (first bool, err error) {
	unlock, err := l.lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	current, found, err := records.Read[Hold](l.Dir, h.WorkflowID)
	if err != nil || !found || current.RunID != h.RunID {
		return false, err // released meanwhile, or a newer run's hold
	}
	if err := release(ctx, current); err != nil {
		return false, fmt.Errorf("release the %s hold %s left: %w", h.Mode, h.WorkflowID, err)
	}
	first = current.Released.IsZero()
	if now.Before(current.Until) {
		if first {
			current.Released = now
			return true, records.Write(l.Dir, h.WorkflowID, current)
		}
		return false, nil
	}
	return first, l.drop(h.WorkflowID, h.RunID)
}
