package drill

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/records"
)

const testRun = "rewind-prod-drill/0b6f4c2e-1111"

// A RecordDrill input carries no verdict of its own: one the host never observed (a
// stranger's run, a rogue poller's forged input) records nothing, and an observed failure
// stays failed whatever the input claims.
func TestAForgedRecordCannotProveABackup(t *testing.T) {
	a := &Activities{StateDir: t.TempDir()}
	ds := backups.Drills{Dir: backups.DrillsDir(a.StateDir)}
	forged := RecordInput{Stack: "prod", Drill: backups.Drill{Name: "backup_2.tar.gz", OK: true, Detail: "trust me", By: testRun}}

	err := a.RecordDrill(context.Background(), forged)
	require.ErrorContains(t, err, `this host saw no outcome of drill run "rewind-prod-drill/0b6f4c2e-1111" for backup backup_2.tar.gz`)
	got, err := ds.Load("prod")
	require.NoError(t, err)
	require.Empty(t, got, "nothing is recorded")

	// Restored but never checked: still no verdict.
	require.NoError(t, a.observe(testRun, func(o *observed) { o.Restored = map[string]string{"backup_2.tar.gz": "22"} }))
	require.Error(t, a.RecordDrill(context.Background(), forged))

	// Checked and found wanting: the input's OK does not turn it.
	require.NoError(t, a.observe(testRun, func(o *observed) { o.Checked = &verdict{Detail: "answers but not with the data"} }))
	require.NoError(t, a.RecordDrill(context.Background(), forged))
	got, err = ds.Load("prod")
	require.NoError(t, err)
	require.False(t, got["backup_2.tar.gz"].OK)
	require.Equal(t, "answers but not with the data", got["backup_2.tar.gz"].Detail)
	require.Equal(t, "22", got["backup_2.tar.gz"].SHA256)

	// Another backup this run never restored cannot be named.
	other := forged
	other.Drill.Name = "backup_1.tar.gz"
	require.Error(t, a.RecordDrill(context.Background(), other))
}

// A passed check proves only what the run restored, with the hash of the file as read.
func TestAnObservedPassIsRecordedWithTheFilesHash(t *testing.T) {
	a := &Activities{StateDir: t.TempDir()}
	require.NoError(t, a.observe(testRun, func(o *observed) {
		o.Restored = map[string]string{"backup_2.tar.gz": "22"}
		o.Checked = &verdict{OK: true, Detail: "SELECT 1 → 1"}
	}))
	in := RecordInput{Stack: "prod", Drill: backups.Drill{Name: "backup_2.tar.gz", At: time.Now(), By: testRun}}
	require.NoError(t, a.RecordDrill(context.Background(), in))
	got, err := backups.Drills{Dir: backups.DrillsDir(a.StateDir)}.Load("prod")
	require.NoError(t, err)
	require.True(t, got["backup_2.tar.gz"].OK)
	require.True(t, got["backup_2.tar.gz"].Of("backup_2.tar.gz", "22"))
}

// The drill's removal takes what it downloaded, and never a file outside the download
// folder (a local store's backup is read where it lies).
func TestRemovalTakesTheDrillsDownload(t *testing.T) {
	a := &Activities{StateDir: t.TempDir()}
	dl := filepath.Join(a.downloadsDir(), "0123456789abcdef-backup_2.tar.gz")
	store := filepath.Join(t.TempDir(), "backup_2.tar.gz")
	require.NoError(t, os.MkdirAll(a.downloadsDir(), 0o700))
	for _, f := range []string{dl, store} {
		require.NoError(t, os.WriteFile(f, []byte("x"), 0o600))
	}
	require.True(t, a.underDownloads(dl))
	require.False(t, a.underDownloads(store))
	require.NoError(t, a.observe(testRun, func(o *observed) { o.Downloads = []string{dl, store} }))
	require.NoError(t, a.forget(testRun))
	require.NoFileExists(t, dl)
	require.FileExists(t, store)
	_, found, err := records.Read[observed](a.runsDir(), testRun)
	require.NoError(t, err)
	require.False(t, found, "what the host saw of the run is forgotten")
}
