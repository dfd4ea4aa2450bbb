package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/backups"
)

// putDatedBackup writes a backup of the runbook's name for day d (02:00 UTC), with its
// sidecar and, when ours, the marker rewind backup writes; it returns its name.
func putDatedBackup(t *testing.T, dir string, at time.Time, ours bool) string {
	t.Helper()
	name := "questdb_backup_" + at.UTC().Format("20060102_150405") + ".tar.gz"
	body := []byte("a backup of " + name)
	sha := datedSHA(name)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), body, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, backups.SidecarName(name)), []byte(sha+"  "+name+"\n"), 0o600))
	if ours {
		m, err := json.Marshal(backups.Marker{Name: name, SHA256: sha, Workflow: "rewind-demo-backup", Run: "earlier"})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, backups.MarkerName(name)), m, 0o600))
	}
	return name
}

// datedSHA is the sha256 of the backup putDatedBackup writes under name.
func datedSHA(name string) string {
	sum := sha256.Sum256([]byte("a backup of " + name))
	return hex.EncodeToString(sum[:])
}

// TestRetentionKeepsExactlyWhatThePolicySaysAfterABackup: a folder of 40 nightly backups
// Rewind wrote, the five newest failed their drills and the newest proven is 30 nights
// old, beside an operator's own backups. After a real rewind backup with keep {last: 3,
// daily: 7, weekly: 4}, exactly these stay: the new one, the last 6 nights (daily; last is
// within them), the newest of each of the 3 ISO weeks before this one (weekly), the
// newest proven, and every file Rewind did not write; the rest go with their sidecars.
func TestRetentionKeepsExactlyWhatThePolicySaysAfterABackup(t *testing.T) {
	s := needDocker(t)
	srv, _ := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, stack: uniqueName("demo-")})
	body, err := os.ReadFile(e.config)
	require.NoError(t, err)
	edited := strings.Replace(string(body), "require_checksum: true}", "require_checksum: true, keep: {last: 3, daily: 7, weekly: 4}, max_age: 24h}", 1)
	require.NotEqual(t, string(body), edited, "the stack's backups line")
	require.NoError(t, os.WriteFile(e.config, []byte(edited), 0o600))

	require.NoError(t, os.MkdirAll(e.backups, 0o755))
	today := time.Now().UTC().Truncate(24 * time.Hour)
	night := func(d int) time.Time { return today.AddDate(0, 0, -d).Add(2 * time.Hour) }
	ours := map[int]string{}
	for d := 1; d <= 40; d++ {
		ours[d] = putDatedBackup(t, e.backups, night(d), true)
	}
	// An operator's own backups, one among the newest and one among the oldest, and one of
	// Rewind's names whose archive and sidecar were replaced by hand: none is Rewind's now.
	operators := []string{putDatedBackup(t, e.backups, night(3).Add(time.Hour), false), putDatedBackup(t, e.backups, night(38).Add(time.Hour), false)}
	require.NoError(t, os.WriteFile(filepath.Join(e.backups, backups.SidecarName(ours[25])), []byte(strings.Repeat("0", 64)+"  "+ours[25]+"\n"), 0o600))
	operators = append(operators, ours[25])
	drills := backups.Drills{Dir: backups.DrillsDir(filepath.Join(e.dir, "state"))}
	// A drill speaks of the file it drilled: its name as listed and its sha256.
	for d := 1; d <= 5; d++ {
		require.NoError(t, drills.Record(e.stack, backups.Drill{Name: ours[d], SHA256: datedSHA(ours[d]), At: time.Now().Add(-time.Hour), OK: false, Detail: "the database did not start"}))
	}
	require.NoError(t, drills.Record(e.stack, backups.Drill{Name: ours[30], SHA256: datedSHA(ours[30]), At: time.Now().Add(-time.Hour), OK: true, Seconds: 4}))
	require.NoError(t, drills.Record(e.stack, backups.Drill{Name: ours[35], SHA256: datedSHA(ours[35]), At: time.Now().Add(-time.Hour), OK: true, Seconds: 4}))

	e.up()
	e.startWorker()
	code, out, errOut := e.rewind("backup", "--stack", e.stack, "--wait", "--as", "carol")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	taken := backupName.FindString(out)
	require.NotEmpty(t, taken, out)
	require.Contains(t, out, "retention of ")

	// What the policy says, worked out here by the calendar: the newest backup of each
	// of the 7 newest days (the new one's day and the 6 nights before), and of each of the
	// 4 newest ISO weeks: the new one's week, then the Sunday night of each of the 3 weeks
	// before it (fixtures are nightly, Sunday is an ISO week's last day).
	takenAt, err := time.Parse("20060102_150405", strings.TrimSuffix(strings.TrimPrefix(taken, "questdb_backup_"), ".tar.gz"))
	require.NoError(t, err)
	require.Equal(t, today, takenAt.Truncate(24*time.Hour), "the backup was taken the day the fixtures count from; run again after midnight")
	keep := map[string]bool{taken: true, ours[30]: true}
	for d := 1; d <= 6; d++ {
		keep[ours[d]] = true
	}
	monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	for w := 1; w <= 3; w++ {
		sunday := int(today.Sub(monday.AddDate(0, 0, -7*(w-1)-1)).Hours() / 24)
		keep[ours[sunday]] = true
	}
	var want []string
	for name := range keep {
		want = append(want, name, backups.SidecarName(name), backups.MarkerName(name))
	}
	for _, name := range operators {
		want = append(want, name, backups.SidecarName(name))
	}
	want = append(want, backups.MarkerName(ours[25]))
	entries, err := os.ReadDir(e.backups)
	require.NoError(t, err)
	var got []string
	for _, f := range entries {
		got = append(got, f.Name())
	}
	slices.Sort(want)
	slices.Sort(got)
	require.Equal(t, want, got, "exactly what the policy keeps, the newest proven, and what Rewind did not write")
	require.Less(t, len(keep), 15, "the policy removed most of the 40")

	// The CLI shows the drills and the freshness, and nothing more would go.
	code, out, errOut = e.rewind("backups", "--stack", e.stack)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "FAILED")
	require.Regexp(t, `freshness: newest proven backup \d+ h \d+ min old \(`+regexp.QuoteMeta(ours[30])+`\)`, out)
	require.Contains(t, out, "over backups.max_age (24 h 0 min)")
	code, out, errOut = e.rewind("backups", "--stack", e.stack, "--prune", "--dry-run")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, fmt.Sprintf("0 of %d would be removed", len(keep)+len(operators)))
	require.Regexp(t, regexp.QuoteMeta(ours[30])+`\s+keep\s+newest proven\n`, out)
}
