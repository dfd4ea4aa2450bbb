package backups

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
)

// Open opens the store backups are in; a store that cannot be opened is the stack's
// configuration to fix, so no retry is asked for.
func Open(ctx context.Context, l storage.Location) (storage.Store, error) {
	s, err := storage.Open(ctx, l)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup store %s: %v", l, err), failure.StoreConfig, err)
	}
	return s, nil
}

// Query says which files of a store are backups and what to read of each.
type Query struct {
	Pattern string
	// Limit is how many to return, newest first; 0: all.
	Limit int
	// Checksums reads each backup's sidecar and fingerprint too.
	Checksums bool
	// Only keeps the backup of this name (a pinned one); it must exist.
	Only string
}

// Listed is one backup, with its recorded checksum when asked for.
type Listed struct {
	storage.Object
	// SHA256 is what its sidecar records; "" without one.
	SHA256 string `json:",omitempty"`
	// Sidecar names the checksum file, "" without one.
	Sidecar string `json:",omitempty"`
	// Fingerprint is the data fingerprint recorded when the backup was made, if any.
	Fingerprint string `json:",omitempty"`
}

// List returns the backups newest first (the runbook's `ls -t ... | head`).
func List(ctx context.Context, s storage.Store, q Query) ([]Listed, error) {
	objs, err := list(ctx, s, q)
	if err != nil {
		return nil, err
	}
	if q.Only != "" {
		objs = slices.DeleteFunc(objs, func(o storage.Object) bool { return o.Name != q.Only && path.Base(o.Name) != q.Only })
		if len(objs) == 0 {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("no backup %s matching %s in %s; `rewind backups` lists them", q.Only, q.Pattern, s.Describe()), failure.NoGoodBackup, nil)
		}
	}
	out := make([]Listed, len(objs))
	for i, o := range objs {
		out[i] = Listed{Object: o}
		if !q.Checksums {
			continue
		}
		sum, sidecar, err := readSidecar(ctx, s, o.Name)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		out[i].SHA256, out[i].Sidecar = sum, sidecar
		if fp, err := readSmall(ctx, s, FingerprintName(o.Name)); err == nil {
			out[i].Fingerprint = strings.TrimSpace(fp)
		}
	}
	return out, nil
}

func list(ctx context.Context, s storage.Store, q Query) ([]storage.Object, error) {
	all, err := s.List(ctx, "")
	if errors.Is(err, storage.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%v; check the stack's backups location in rewind.yaml", err), failure.StoreConfig, err)
	}
	if err != nil {
		return nil, err
	}
	var out []storage.Object
	for _, o := range all {
		if Match(q.Pattern, o.Name) {
			out = append(out, o)
		}
	}
	NewestFirst(out)
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}
