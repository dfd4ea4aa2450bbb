package volume_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
)

func TestABackupIsPublishedWholeUnderItsNameWithItsSidecarAndRestores(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	src := newVolume(t, c, nil)
	files := []file{{name: "db/"}, {name: "db/market.sqlite", body: randomBytes(2 << 20)}, {name: "db/current", link: "market.sqlite"}}
	fill(t, c, src, files)

	dir := t.TempDir()
	in := volume.BackupInput{Volume: src, Location: storage.Location{Dir: dir}, Name: "questdb_backup_20261203_141500.tar.gz", Pattern: "questdb_backup_*.tar.gz"}
	v, err := env.ExecuteActivity(a.BackupVolume, in)
	require.NoError(t, err)
	var proof volume.SnapshotProof
	require.NoError(t, v.Get(&proof))
	require.Equal(t, filepath.Join(dir, in.Name), proof.Path)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{in.Name, "questdb_backup_20261203_141500.sha256", "questdb_backup_20261203_141500.rewind"}, names, "no partial is left behind")
	mark, err := backups.ReadMarker(t.Context(), mustOpen(t, dir), in.Name)
	require.NoError(t, err)
	require.Equal(t, proof.SHA256, mark.SHA256, "the marker names what retention may remove")
	sidecar, err := os.ReadFile(filepath.Join(dir, "questdb_backup_20261203_141500.sha256"))
	require.NoError(t, err)
	require.Equal(t, proof.SHA256+"  "+in.Name+"\n", string(sidecar), "sha256sum -c reads the sidecar")

	// Another backup under a name that is taken (a cron job's, or this one's, done) is refused
	// and leaves it as it was.
	before, err := os.ReadFile(proof.Path)
	require.NoError(t, err)
	_, err = env.ExecuteActivity(a.BackupVolume, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, failure.BadInput, appErr.Type())
	require.ErrorContains(t, err, "already exists")
	after, err := os.ReadFile(proof.Path)
	require.NoError(t, err)
	require.Equal(t, before, after, "the backup under that name is untouched")

	dst := newVolume(t, c, nil)
	_, err = env.ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: dst, Backup: proof.Path, Layout: "runbook"})
	require.NoError(t, err)
	require.Equal(t, describe(files), contents(t, c, dst), "the backup is in the runbook's layout")
}

func TestABackupNamedOutsideItsPatternIsRefused(t *testing.T) {
	a := &volume.Activities{}
	env := activityEnv(a)
	_, err := env.ExecuteActivity(a.BackupVolume, volume.BackupInput{Volume: "v", Location: storage.Location{Dir: t.TempDir()}, Name: "other_20261203.tar.gz", Pattern: "questdb_backup_*.tar.gz"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, failure.BadInput, appErr.Type())
	require.Contains(t, appErr.Error(), `does not match the volume's pattern "questdb_backup_*.tar.gz"`)
}
