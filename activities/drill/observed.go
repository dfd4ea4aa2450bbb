package drill

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/algotrendy/rewind/records"
)

// observed is what this host saw of one drill run: the backups it restored (by name, with
// the hash of the file as read), the ones that did not restore, and what the check of the
// throwaway database found. RecordDrill records only this, never a verdict its input
// carries, so a forged input or a rogue poller cannot prove or condemn a backup.
type observed struct {
	Run      string
	Restored map[string]string `json:",omitempty"`
	// Broken are backups that did not restore.
	Broken map[string]broken `json:",omitempty"`
	// Checked is set once the check reached a verdict: OK, and Detail what it found.
	Checked *verdict `json:",omitempty"`
	// Downloads are files this run fetched into the host's download folder.
	Downloads []string `json:",omitempty"`
}

type broken struct {
	SHA256 string
	Why    string
}

type verdict struct {
	OK     bool
	Detail string
}

func (a *Activities) runsDir() string { return filepath.Join(a.StateDir, "drills", ".runs") }

// downloadsDir is where the backup steps keep what they fetch (worker.state_dir/downloads).
func (a *Activities) downloadsDir() string { return filepath.Join(a.StateDir, "downloads") }

// observe updates what this host saw of the run; without a state folder nothing is kept,
// and RecordDrill then records nothing either.
func (a *Activities) observe(run string, change func(*observed)) error {
	if a.StateDir == "" {
		return nil
	}
	o, _, err := records.Read[observed](a.runsDir(), run)
	if err != nil {
		return fmt.Errorf("read what this host saw of drill %s: %w", run, err)
	}
	o.Run = run
	change(&o)
	if err := records.Write(a.runsDir(), run, o); err != nil {
		return fmt.Errorf("keep what this host saw of drill %s: %w", run, err)
	}
	return nil
}

// underDownloads says the path is a file in the host's download folder (not a local
// store's backup, which is read where it lies and never removed).
func (a *Activities) underDownloads(p string) bool {
	rel, err := filepath.Rel(a.downloadsDir(), p)
	return a.StateDir != "" && err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !strings.Contains(rel, string(filepath.Separator))
}
