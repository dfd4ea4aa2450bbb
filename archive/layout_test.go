package archive_test

import (
	"archive/tar"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/failure"
)

func TestParseLayoutReadsWhatStringWrites(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want archive.Layout
		str  string
	}{
		{"", archive.Layout{Mode: archive.LayoutAuto}, "auto"},
		{"auto", archive.Layout{Mode: archive.LayoutAuto}, "auto"},
		{"runbook", archive.RunbookLayout, "runbook"},
		{"flat", archive.FlatLayout(), "flat"},
		{"strip:0", archive.FlatLayout(), "flat"},
		{"strip:6", archive.StripLayout(6), "strip:6"},
		{"root:var/lib/docker/volumes/db/_data/", archive.Layout{Mode: archive.LayoutFixed, Root: "var/lib/docker/volumes/db/_data"}, "root:var/lib/docker/volumes/db/_data"},
		{"strip:1,root:_data", archive.RunbookLayout, "runbook"},
		{"strip:2,root:x/_data", archive.Layout{Mode: archive.LayoutFixed, StripComponents: 2, Root: "x/_data"}, "strip:2,root:x/_data"},
	} {
		got, err := archive.ParseLayout(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, tc.str, got.String(), tc.in)
		again, err := archive.ParseLayout(got.String())
		require.NoError(t, err)
		require.Equal(t, got, again, "String round-trips %q", tc.in)
	}
}

func TestParseLayoutRefusesWithTheChoices(t *testing.T) {
	for _, in := range []string{"runbok", "strip:-1", "strip:x", "root:/abs", "root:a/../b", "strip:1,strip:2", "depth:3"} {
		_, err := archive.ParseLayout(in)
		require.Error(t, err, in)
		require.ErrorContains(t, err, `backup layout "`+in+`"`)
		require.ErrorContains(t, err, "want auto, runbook, flat, strip:N, root:PATH or strip:N,root:PATH")
	}
}

// TestLayoutRecordedBeforeModeStaysFixed: activity inputs recorded before Mode existed
// hold {StripComponents:1, Root:"_data"}; a retry after an upgrade must read it the same.
func TestLayoutRecordedBeforeModeStaysFixed(t *testing.T) {
	var l archive.Layout
	require.NoError(t, json.Unmarshal([]byte(`{"StripComponents":1,"Root":"_data"}`), &l))
	require.False(t, l.IsAuto())
	require.Equal(t, "runbook", l.String())
	require.True(t, archive.Layout{}.IsAuto(), "the zero value detects")
}

func TestDetectLayout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		names   []string
		final   bool
		want    string
		decided bool
	}{
		{"runbook", []string{"vol/", "vol/_data/", "vol/_data/db"}, false, "root:vol/_data", true},
		{"absolute path given to tar", []string{"var/lib/docker/volumes/vol/_data/", "var/lib/docker/volumes/vol/_data/x"}, false, "root:var/lib/docker/volumes/vol/_data", true},
		{"runbook from inside the volumes folder", []string{"./", "./vol/", "./vol/_data/"}, false, "root:vol/_data", true},
		{"a folder above the root needs more names", []string{"vol/"}, false, "", false},
		{"flat, decided by a deep name", []string{"./", "./a/b/c/d/e/f/g"}, false, "flat", true},
		{"flat at the archive's end", []string{"./", "./PG_VERSION", "./base/"}, true, "flat", true},
		{"_data deeper than 6 components is content", []string{"a/b/c/d/e/f/_data/x"}, false, "flat", true},
		{"names refused anyway are not evidence", []string{"../_data/x", "/_data/x"}, true, "flat", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, decided := archive.DetectLayout(tc.names, tc.final)
			require.Equal(t, tc.decided, decided)
			if decided {
				require.Equal(t, tc.want, got.String())
			}
		})
	}
}

// TestWalkDetectionHoldsBackSmallEntries: detection reads ahead over small entries only.
func TestWalkDetectionHoldsBackSmallEntries(t *testing.T) {
	big := strings.Repeat("x", 2<<20)
	var manySmall []entry
	for i := range 100 {
		manySmall = append(manySmall, file("./f"+string(rune('A'+i%26))+strings.Repeat("z", i/26), "s"))
	}
	manySmall = append(manySmall, file("./late/_data/x", "x"))
	for _, tc := range []struct {
		name    string
		entries []entry
		layout  string
		first   string // first path visited
		err     string
	}{
		{"a volume's opts.json before _data is outside the root", []entry{dir("vol/"), file("vol/opts.json", "{}"), dir("vol/_data/"), file("vol/_data/a", "a")},
			"", "", `entry "vol/opts.json" lies outside the volume's root vol/_data/`},
		{"a file too large to hold decides flat", []entry{dir("./"), file("./big", big), dir("./vol/_data/")},
			"flat", ".", ""},
		{"64 small entries without _data decide flat", manySmall, "flat", "fA", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first string
			sum, err := walkBytes(t, tarGz(t, tc.entries...), archive.WalkOptions{}, func(e archive.Entry, _ io.Reader) error {
				if first == "" {
					first = e.Path
				}
				return nil
			})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.layout, sum.Layout.String())
			require.Equal(t, tc.first, first)
			require.Equal(t, len(tc.entries), sum.InVolume, "held entries are visited too, in order")
		})
	}
}

// TestCheckerForCallersThatReadTarThemselves uses the rules one header at a time.
func TestCheckerForCallersThatReadTarThemselves(t *testing.T) {
	_, err := archive.NewChecker(archive.Layout{}, archive.Limits{})
	require.ErrorContains(t, err, "DetectLayout")
	c, err := archive.NewChecker(archive.RunbookLayout, archive.Limits{MaxEntries: 4})
	require.NoError(t, err)
	for _, tc := range []struct {
		hdr      tar.Header
		path     string
		inVolume bool
		err      string
	}{
		{tar.Header{Name: "questdb/", Typeflag: tar.TypeDir}, "", false, ""},
		{tar.Header{Name: "questdb/_data/", Typeflag: tar.TypeDir}, ".", true, ""},
		{tar.Header{Name: "questdb/_data/db", Typeflag: tar.TypeReg, Size: 3}, "db", true, ""},
		{tar.Header{Name: "questdb/_data/db2", Typeflag: tar.TypeLink, Linkname: "questdb/_data/db"}, "db2", true, ""},
		{tar.Header{Name: "questdb/_data/db3", Typeflag: tar.TypeReg}, "", false, "holds more than 4 entries"},
	} {
		e, inVolume, err := c.Check(&tc.hdr)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			require.Equal(t, failure.TooLarge, archive.ErrorType(err))
			continue
		}
		require.NoError(t, err, tc.hdr.Name)
		require.Equal(t, tc.inVolume, inVolume, tc.hdr.Name)
		require.Equal(t, tc.path, e.Path, tc.hdr.Name)
	}
}

// TestDeprecatedMapKeepsItsContract: callers not yet on Walk keep working.
func TestDeprecatedMapKeepsItsContract(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		skip       bool
	}{
		{"algotrendy_v26_questdb_data/", "", true},
		{"algotrendy_v26_questdb_data/_data/", "", false},
		{"algotrendy_v26_questdb_data/_data/db/market.sqlite", "db/market.sqlite", false},
		{"./algotrendy_v26_questdb_data/_data/db", "db", false},
	} {
		got, skip, err := archive.RunbookLayout.Map(&tar.Header{Name: tc.name, Typeflag: tar.TypeReg})
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.skip, skip, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
	_, _, err := archive.RunbookLayout.Map(&tar.Header{Name: "v/_data/../../etc/passwd"})
	require.ErrorContains(t, err, `entry "v/_data/../../etc/passwd" climbs out with '..'`)
	got, err := archive.RunbookLayout.MapLink(&tar.Header{Name: "v/_data/b", Typeflag: tar.TypeLink, Linkname: "v/_data/a"})
	require.NoError(t, err)
	require.Equal(t, "a", got)
	_, err = archive.RunbookLayout.MapLink(&tar.Header{Name: "v/_data/b", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"})
	require.ErrorContains(t, err, "hard-links to")
}
