package retention_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/retention"
)

// fortyBackups are two backups a day, at 02:00 and 14:00 UTC, from Sunday 1 November
// 2026 to Friday 20 November: 40 in all, in shuffled order.
func fortyBackups(t *testing.T) []retention.Backup {
	t.Helper()
	var bs []retention.Backup
	for day := 1; day <= 20; day++ {
		for _, hour := range []int{2, 14} {
			at := time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC)
			bs = append(bs, retention.Backup{Name: "questdb_backup_" + at.Format("20060102_150405") + ".tar.gz", Taken: at})
		}
	}
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(bs), func(i, j int) { bs[i], bs[j] = bs[j], bs[i] })
	require.Len(t, bs, 40)
	return bs
}

func kept(ds []retention.Decision) []string {
	var names []string
	for _, d := range ds {
		if d.Keep {
			names = append(names, fmt.Sprintf("%s %v", d.Taken.Format("01-02 15h"), d.Why))
		}
	}
	return names
}

func TestDecideKeepsWhatThePolicySaysAndTheNewestProvenBackup(t *testing.T) {
	backups := fortyBackups(t)
	for i, b := range backups {
		// Drills proved everything up to 17 November 02:00; every newer backup failed its drill.
		backups[i].Proven = !b.Taken.After(time.Date(2026, 11, 17, 2, 0, 0, 0, time.UTC))
		if b.Taken.Equal(time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC)) {
			backups[i].Held = "chosen by rollback rewind-prod"
		}
	}
	ds := retention.Decide(retention.Policy{Last: 3, Daily: 7, Weekly: 4}, backups)

	require.Len(t, ds, 40)
	require.Equal(t, []string{
		"11-20 14h [last daily 2026-11-20 weekly 2026-W47]",
		"11-20 02h [last]",
		"11-19 14h [last daily 2026-11-19]",
		"11-18 14h [daily 2026-11-18]",
		"11-17 14h [daily 2026-11-17]",
		"11-17 02h [newest proven]",
		"11-16 14h [daily 2026-11-16]",
		"11-15 14h [daily 2026-11-15 weekly 2026-W46]",
		"11-14 14h [daily 2026-11-14]",
		"11-08 14h [weekly 2026-W45]",
		"11-05 02h [chosen by rollback rewind-prod]",
		"11-01 14h [weekly 2026-W44]",
	}, kept(ds))
	for _, d := range ds {
		if !d.Keep {
			require.Equal(t, []string{"no rule keeps it"}, d.Why, d.Name)
		}
	}
}

func TestAZeroPolicyKeepsEverything(t *testing.T) {
	ds := retention.Decide(retention.Policy{}, fortyBackups(t))
	require.Len(t, kept(ds), 40)
	require.Equal(t, "keep everything", retention.Policy{}.String())
}

func TestAPolicyLongerThanTheBackupsKeepsThemAll(t *testing.T) {
	ds := retention.Decide(retention.Policy{Last: 100, Monthly: 12}, fortyBackups(t))
	require.Len(t, kept(ds), 40)
}

func TestANegativeCountIsRefusedByName(t *testing.T) {
	err := retention.Policy{Last: 3, Weekly: -1}.Validate()
	require.EqualError(t, err, "keep.weekly is -1: want 0 (no such rule) or more")
	require.NoError(t, retention.Policy{Daily: 7}.Validate())
	require.Equal(t, "keep last 3, daily 7", retention.Policy{Last: 3, Daily: 7}.String())
}
