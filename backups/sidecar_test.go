package backups

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSidecarsOfTheCommonToolsAreRead(t *testing.T) {
	sum := "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
	want := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"sha256sum", sum + "  questdb_backup_1.tar.gz\n", true},
		{"sha256sum binary mode", sum + " *questdb_backup_1.tar.gz\n", true},
		{"sha256sum of an absolute path", sum + "  /root/AlgoTrendy_v2.6/backups/questdb_backup_1.tar.gz\n", true},
		{"bare hash", sum + "\n", true},
		{"BSD and shasum --tag", "SHA256 (questdb_backup_1.tar.gz) = " + sum + "\n", true},
		{"a renamed backup's only line", sum + "  old-name.tar.gz\n", true},
		{"several files, one of them ours", "0000000000000000000000000000000000000000000000000000000000000000  other.tar.gz\n" + sum + "  questdb_backup_1.tar.gz\n", true},
		{"several files, none ours", sum + "  a.tar.gz\n" + sum + "  b.tar.gz\n", false},
		{"garbage", "hello\n", false},
		{"md5", "d41d8cd98f00b204e9800998ecf8427e  questdb_backup_1.tar.gz\n", false},
	} {
		got, ok := parseSidecar(tc.body, "questdb_backup_1.tar.gz")
		require.Equal(t, tc.ok, ok, tc.name)
		if tc.ok {
			require.Equal(t, want, got, tc.name)
		}
	}
}

func TestSidecarNamesOfTheRunbookAndOfSha256sum(t *testing.T) {
	require.Equal(t, []string{"b/questdb_backup_1.sha256", "b/questdb_backup_1.tar.gz.sha256"}, sidecarNames("b/questdb_backup_1.tar.gz"))
	require.Equal(t, "questdb_backup_1.fingerprint", FingerprintName("questdb_backup_1.tgz"))
}
