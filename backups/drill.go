package backups

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/algotrendy/rewind/records"
)

// Drill is the outcome of a restore drill of one backup: restored into a staging volume,
// served by a throwaway copy of the stack's database, and checked. A backup with a passed
// drill is proven; one whose drill failed is skipped by full rollbacks.
type Drill struct {
	Name string
	At   time.Time
	OK   bool
	// SHA256 is the hash of the file the drill restored: a file later put under the same
	// name is not the one drilled (see Drill.Of).
	SHA256 string `json:",omitempty"`
	// Seconds is how long the drill took, restore to answered check.
	Seconds float64 `json:",omitempty"`
	// Detail is what the check found, or why the drill failed.
	Detail string
	// By is the drill's workflow run.
	By string `json:",omitempty"`
}

// Of says the drill speaks of the backup as it is now: the backup of this name whose
// sidecar SHA256 is sha256. A drill of another file once under the name is no drill of
// it. Everyone asking "is this backup proven, or did its drill fail" asks through Of (or
// LatestFor), so the rule lives here once.
func (d Drill) Of(name, sha256 string) bool {
	return d.Name == name && d.SHA256 == sha256
}

// LatestFor is the latest drill of the backup as it is now, from a stack's drills by name
// (as Drills.Load returns them); ok is false when it has none.
func LatestFor(drills map[string]Drill, name, sha256 string) (d Drill, ok bool) {
	d, ok = drills[name]
	if !ok || !d.Of(name, sha256) {
		return Drill{}, false
	}
	return d, true
}

// Drills keeps drill outcomes on the Docker host, one file per backup:
// <dir>/<stack>/<name>.json. A later drill of the same backup replaces the earlier.
type Drills struct {
	Dir string
}

// Record stores d as the latest drill of its backup.
func (ds Drills) Record(stack string, d Drill) error {
	if err := records.Write(filepath.Join(ds.Dir, stack), d.Name, d); err != nil {
		return fmt.Errorf("record the drill of %s: %w", d.Name, err)
	}
	return nil
}

// Load returns the stack's drills by backup name; none is no error. A record that cannot
// be read is left out and named in the error, which comes with every drill that could be
// read: the caller decides whether part of the drills is enough.
func (ds Drills) Load(stack string) (map[string]Drill, error) {
	dir := filepath.Join(ds.Dir, stack)
	files, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Drill{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the drills of %s: %w", stack, err)
	}
	out := map[string]Drill{}
	var bad []error
	for _, f := range files {
		key, ok := strings.CutSuffix(f.Name(), ".json")
		if !ok || strings.HasPrefix(f.Name(), ".") {
			continue
		}
		if key, err = url.PathUnescape(key); err != nil {
			bad = append(bad, fmt.Errorf("%s: not a drill record's name; delete the file", filepath.Join(dir, f.Name())))
			continue
		}
		d, found, err := records.Read[Drill](dir, key)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if found {
			out[d.Name] = d
		}
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("read the drills of %s: %w", stack, errors.Join(bad...))
	}
	return out, nil
}

// DrillsDir is where a host keeps drill outcomes, under its worker.state_dir.
func DrillsDir(stateDir string) string { return filepath.Join(stateDir, "drills") }
