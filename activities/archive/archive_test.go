package archive

import (
	"archive/tar"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMapFollowsTheRunbookLayout(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		skip       bool
	}{
		{"algotrendy_v26_questdb_data/", "", true},
		{"algotrendy_v26_questdb_data/_data/", "", false},
		{"algotrendy_v26_questdb_data/_data/db/market.sqlite", "db/market.sqlite", false},
		{"./algotrendy_v26_questdb_data/_data/db", "db", false},
	} {
		got, skip, err := RunbookLayout.Map(&tar.Header{Name: tc.name, Typeflag: tar.TypeReg})
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.skip, skip, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
}

func TestMapRefusesEntriesThatEscapeTheVolume(t *testing.T) {
	for _, tc := range []struct {
		hdr  tar.Header
		want string
	}{
		{tar.Header{Name: "../etc/passwd"}, `entry "../etc/passwd" climbs out with '..'`},
		{tar.Header{Name: "v/_data/../../../etc/passwd"}, "climbs out with '..'"},
		{tar.Header{Name: "/abs"}, `entry "/abs" is an absolute path`},
		{tar.Header{Name: "v/_data/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}, `links to the absolute path "/etc/shadow"`},
		{tar.Header{Name: "v/_data/db/link", Typeflag: tar.TypeSymlink, Linkname: "../../x"}, `links to "../../x", outside the volume`},
		{tar.Header{Name: "v/other/file"}, "lies outside _data/ after stripping 1 component(s)"},
		{tar.Header{Name: "v/_data/dev", Typeflag: tar.TypeChar}, "is a device node"},
	} {
		_, _, err := RunbookLayout.Map(&tc.hdr)
		require.Error(t, err, tc.hdr.Name)
		require.Contains(t, err.Error(), tc.want)
		var unsafe *UnsafeError
		require.ErrorAs(t, err, &unsafe)
	}
	ok, _, err := RunbookLayout.Map(&tar.Header{Name: "v/_data/db/link", Typeflag: tar.TypeSymlink, Linkname: "../wal"})
	require.NoError(t, err, "a link that stays inside the volume is fine")
	require.Equal(t, "db/link", ok)
}

func TestMapLinkKeepsHardLinksInside(t *testing.T) {
	got, err := RunbookLayout.MapLink(&tar.Header{Name: "v/_data/b", Typeflag: tar.TypeLink, Linkname: "v/_data/a"})
	require.NoError(t, err)
	require.Equal(t, "a", got)
	_, err = RunbookLayout.MapLink(&tar.Header{Name: "v/_data/b", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"})
	require.ErrorContains(t, err, "hard-links to")
}
