// Package holds is the Docker host's ledger of the holds Rewind's backups take on a
// database (a pause, a stop, a checkpoint). A run that is terminated or times out runs
// none of its own release, so the worker reads the ledger and lets go what no open run
// holds any more: a backup never leaves a database paused behind it.
package holds

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
	h, found, err := records.Read[Hold](l.Dir, workflowID)
	if err != nil || !found || h.RunID != runID {
		return err
	}
	return records.Remove(l.Dir, workflowID)
}

// List returns every hold in the ledger.
func (l Ledger) List() ([]Hold, error) {
	if l.Dir == "" {
		return nil, nil
	}
	return records.All[Hold](l.Dir)
}

// Sweep releases every hold whose run is no longer open and drops it from the ledger. A
// hold whose run cannot be asked about stays for the next sweep.
func (l Ledger) Sweep(ctx context.Context, open func(ctx context.Context, workflowID, runID string) (bool, error), release func(context.Context, Hold) error) ([]Hold, error) {
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
		if err := release(ctx, h); err != nil {
			errs = append(errs, fmt.Errorf("release the %s hold %s left: %w", h.Mode, h.WorkflowID, err))
			continue
		}
		if err := l.Drop(h.WorkflowID, h.RunID); err != nil {
			errs = append(errs, err)
			continue
		}
		released = append(released, h)
	}
	return released, errors.Join(errs...)
}
