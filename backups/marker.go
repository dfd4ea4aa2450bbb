package backups

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/algotrendy/rewind/storage"
)

// Marker is the note `rewind backup` writes beside each backup it stores, before its
// sidecar: retention removes only backups that carry one whose sha256 is the sidecar's,
// so a file an operator made by hand (or replaced under a Rewind name) is never removed.
type Marker struct {
	Name   string
	SHA256 string
	// Workflow and Run are the backup's run.
	Workflow string
	Run      string
	// Reason is why it was taken, as its request said ("before deploying v2.7").
	Reason string `json:",omitempty"`
	At     time.Time
}

// DeployReason is the reason `rewind deployed` gives the backup it takes before a deploy;
// `rewind plan` names the newest such backup.
func DeployReason(version string) string { return "before deploying " + version }

// MarkerName is where a backup's marker is: questdb_backup_X.tar.gz → questdb_backup_X.rewind.
func MarkerName(name string) string { return trimArchive(name) + ".rewind" }

// Sidecars are every file that belongs to a backup besides the archive, the marker last:
// retention removes them with it, and a removal cut short is finished from the marker.
func Sidecars(name string) []string {
	return append(sidecarNames(name), FingerprintName(name), MarkerName(name))
}

// ReadMarker returns the backup's marker; storage.ErrNotFound (wrapped) when it has none.
func ReadMarker(ctx context.Context, s storage.Store, name string) (Marker, error) {
	body, err := readSmall(ctx, s, MarkerName(name))
	if err != nil {
		return Marker{}, err
	}
	var m Marker
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return Marker{}, fmt.Errorf("read %s: %w", MarkerName(name), err)
	}
	return m, nil
}

// Ours reads a listed backup's marker (listed with its checksums) and says whether
// `rewind backup` wrote it: the marker names it and records the sha256 its sidecar does.
// It is the one rule: retention counts and removes only such backups, `rewind backups`
// marks them, and the guard pins only such a one.
func Ours(ctx context.Context, s storage.Store, l Listed) (Marker, bool) {
	if l.SHA256 == "" {
		return Marker{}, false
	}
	m, err := ReadMarker(ctx, s, l.Name)
	if err != nil || path.Base(m.Name) != path.Base(l.Name) || !strings.EqualFold(m.SHA256, l.SHA256) {
		return Marker{}, false
	}
	return m, true
}

// Taken is when a backup was made: the time in its name, else when it was stored. Every
// age of a backup (freshness, retention, `rewind backups`, `rewind plan`, drills) is
// counted from it, so a copy's modification time never makes a backup look younger.
func Taken(o storage.Object) time.Time {
	if t, ok := stamp(o.Name); ok {
		return t
	}
	return o.ModTime
}
