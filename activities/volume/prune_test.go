package volume_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/retention"
	"github.com/algotrendy/rewind/storage"
)

func mustOpen(t *testing.T, dir string) storage.Store {
	t.Helper()
	s, err := storage.Open(t.Context(), storage.Location{Dir: dir})
	require.NoError(t, err)
	return s
}

// shaOf is the sha256 of the backup putBackup writes under name.
func shaOf(name string) string {
	sum := sha256.Sum256([]byte("backup " + name))
	return hex.EncodeToString(sum[:])
}

// putBackup writes a backup as `rewind backup` stores it (archive, marker, sidecar), or
// without the marker as an operator's script would.
func putBackup(t *testing.T, dir, name string, ours bool) {
	t.Helper()
	body := []byte("backup " + name)
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), body, 0o600))
	if ours {
		m, _ := json.Marshal(backups.Marker{Name: name, SHA256: sha})
		require.NoError(t, os.WriteFile(filepath.Join(dir, backups.MarkerName(name)), m, 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, backups.SidecarName(name)), []byte(sha+"  "+name+"\n"), 0o600))
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Retention keeps what the policy says of Rewind's own backups, the newest proven one
// whatever the policy says, every one while a rollback runs, and never touches a backup
// it did not write (no marker, or a marker of other bytes than its sidecar records).
func TestPruneRemovesOnlyRewindsOwnBackupsThePolicyDoesNotKeep(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	name := func(day int) string { return fmt.Sprintf("questdb_backup_202611%02d_020000.tar.gz", day) }
	for day := 1; day <= 6; day++ {
		putBackup(t, dir, name(day), true)
	}
	putBackup(t, dir, name(7), false) // the operator's own, newest of all
	putBackup(t, dir, name(8), true)
	// Replaced by hand after Rewind wrote it: the marker's sha256 is no longer the sidecar's.
	require.NoError(t, os.WriteFile(filepath.Join(dir, backups.SidecarName(name(8))), []byte("0000000000000000000000000000000000000000000000000000000000000000  "+name(8)+"\n"), 0o600))
	drills := backups.Drills{Dir: backups.DrillsDir(state)}
	at := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	require.NoError(t, drills.Record("prod", backups.Drill{Name: name(2), SHA256: shaOf(name(2)), At: at, OK: true}))
	require.NoError(t, drills.Record("prod", backups.Drill{Name: name(5), SHA256: shaOf(name(5)), At: at, OK: false, Detail: "the database did not start"}))
	require.NoError(t, drills.Record("prod", backups.Drill{Name: name(6), SHA256: shaOf(name(6)), At: at, OK: false, Detail: "count 0"}))

	open := "rewind-prod run r1"
	var asked []string
	a := &volume.Activities{StateDir: state, Rollbacks: func(_ context.Context, stack string) (string, error) {
		asked = append(asked, stack)
		return open, nil
	}}
	env := activityEnv(a)
	in := volume.PruneInput{Stack: "prod", Volume: "db", Location: storage.Location{Dir: dir}, Pattern: "questdb_backup_*.tar.gz", Keep: retention.Policy{Last: 2}}

	v, err := env.ExecuteActivity(a.PruneBackups, in)
	require.NoError(t, err)
	var res volume.PruneResult
	require.NoError(t, v.Get(&res))
	require.Empty(t, res.Removed, "nothing goes while a rollback runs")
	require.Equal(t, "held: a rollback runs (rewind-prod run r1) and may restore it", res.Held)
	require.Equal(t, []string{"prod"}, asked, "retention asked Temporal itself")
	require.Len(t, listDir(t, dir), 8*3-1)

	open = ""
	v, err = env.ExecuteActivity(a.PruneBackups, in)
	require.NoError(t, err)
	res = volume.PruneResult{}
	require.NoError(t, v.Get(&res))
	require.ElementsMatch(t, []string{name(7), name(8)}, res.NotOurs)
	require.Equal(t, []string{name(4), name(3), name(1)}, res.Removed)
	kept := map[string][]string{}
	for _, d := range res.Decisions {
		if d.Keep {
			kept[d.Name] = d.Why
		}
	}
	require.Equal(t, map[string][]string{name(6): {"last"}, name(5): {"last"}, name(2): {"newest proven"}}, kept)
	var want []string
	for _, day := range []int{2, 5, 6, 8} {
		want = append(want, name(day), backups.SidecarName(name(day)), backups.MarkerName(name(day)))
	}
	want = append(want, name(7), backups.SidecarName(name(7)))
	require.ElementsMatch(t, want, listDir(t, dir), "the removed backups went with their sidecars and markers")

	// A removal cut short (archive gone, sidecar and marker left) is finished; an
	// operator's stray sidecar is not touched.
	putBackup(t, dir, name(9), true)
	require.NoError(t, os.Remove(filepath.Join(dir, name(9))))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "questdb_backup_20261110_020000.sha256"), []byte("x"), 0o600))
	_, err = env.ExecuteActivity(a.PruneBackups, in)
	require.NoError(t, err)
	require.ElementsMatch(t, append(want, "questdb_backup_20261110_020000.sha256"), listDir(t, dir))
}

// A rollback started while retention removes backups stops the removals before the next
// one: Temporal is asked before each, so the backup the rollback just chose stays; not
// being able to ask, or having no way to, removes nothing.
func TestPruneAsksTemporalBeforeEachRemoval(t *testing.T) {
	dir := t.TempDir()
	name := func(day int) string { return fmt.Sprintf("questdb_backup_202611%02d_020000.tar.gz", day) }
	for day := 1; day <= 5; day++ {
		putBackup(t, dir, name(day), true)
	}
	in := volume.PruneInput{Stack: "prod", Volume: "db", Location: storage.Location{Dir: dir}, Pattern: "questdb_backup_*.tar.gz", Keep: retention.Policy{Last: 1}}

	for _, tc := range []struct {
		name      string
		rollbacks volume.OpenRollbacks
		held      string
	}{
		{"no way to ask", nil, "held: this worker cannot ask Temporal whether a rollback of the stack runs"},
		{"Temporal unreachable", func(context.Context, string) (string, error) { return "", errors.New("connection refused") },
			"held: could not ask Temporal whether a rollback of the stack runs: connection refused"},
	} {
		a := &volume.Activities{Rollbacks: tc.rollbacks}
		v, err := activityEnv(a).ExecuteActivity(a.PruneBackups, in)
		require.NoError(t, err, tc.name)
		var res volume.PruneResult
		require.NoError(t, v.Get(&res))
		require.Empty(t, res.Removed, tc.name)
		require.Equal(t, tc.held, res.Held, tc.name)
		require.Len(t, listDir(t, dir), 5*3, tc.name)
	}

	calls := 0
	a := &volume.Activities{Rollbacks: func(context.Context, string) (string, error) {
		if calls++; calls > 1 {
			return "rewind-prod run r2", nil // started after the first removal
		}
		return "", nil
	}}
	v, err := activityEnv(a).ExecuteActivity(a.PruneBackups, in)
	require.NoError(t, err)
	var res volume.PruneResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, []string{name(4)}, res.Removed, "only the removal asked about before the rollback began")
	require.Equal(t, 2, calls)
	require.Equal(t, "held: a rollback runs (rewind-prod run r2) and may restore it", res.Held)
	for _, d := range res.Decisions {
		if d.Name == name(3) || d.Name == name(1) {
			require.True(t, d.Keep, d.Name)
			require.Equal(t, []string{res.Held}, d.Why)
		}
	}
	require.Len(t, listDir(t, dir), 4*3)
}

// Drills are looked up by the backup's name as listed (a backup in a subfolder too) and
// its sha256, as drills and rollbacks record them; a drill record that cannot be read
// makes retention remove nothing, not even what a removal cut short left, and say why.
func TestPruneKnowsDrillsByTheListedNameAndRemovesNothingWithoutThem(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "nightly"), 0o700))
	name := func(day int) string { return fmt.Sprintf("nightly/questdb_backup_202611%02d_020000.tar.gz", day) }
	for day := 1; day <= 3; day++ {
		putBackup(t, dir, name(day), true)
	}
	drills := backups.Drills{Dir: backups.DrillsDir(state)}
	require.NoError(t, drills.Record("prod", backups.Drill{Name: name(1), SHA256: shaOf(name(1)), At: time.Now(), OK: true}))
	a := &volume.Activities{StateDir: state, Rollbacks: func(context.Context, string) (string, error) { return "", nil }}
	in := volume.PruneInput{Stack: "prod", Volume: "db", Location: storage.Location{Dir: dir}, Pattern: "questdb_backup_*.tar.gz", Keep: retention.Policy{Last: 1}}

	// A corrupt record: nothing goes, and a cut-short removal's leftovers stay too.
	putBackup(t, dir, name(9), true)
	require.NoError(t, os.Remove(filepath.Join(dir, name(9))))
	require.NoError(t, os.WriteFile(filepath.Join(backups.DrillsDir(state), "prod", "broken.json"), []byte("{not json"), 0o600))
	_, err := activityEnv(a).ExecuteActivity(a.PruneBackups, in)
	require.ErrorContains(t, err, "broken.json")
	require.ErrorContains(t, err, "retention cannot know the newest proven backup, so it removed nothing")
	require.Len(t, listDir(t, filepath.Join(dir, "nightly")), 3*3+2)

	require.NoError(t, os.Remove(filepath.Join(backups.DrillsDir(state), "prod", "broken.json")))
	v, err := activityEnv(a).ExecuteActivity(a.PruneBackups, in)
	require.NoError(t, err)
	var res volume.PruneResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, []string{name(2)}, res.Removed, "the drilled backup in the subfolder is the newest proven, and stays")
}
