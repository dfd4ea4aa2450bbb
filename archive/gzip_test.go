package archive_test

import (
	"bytes"
	"cmp"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/archive"
)

// TestGzipperMembersReadBackWithEveryGunzip: a snapshot is gzip members written one per
// segment, by igzip or by pgzip; every decompressor Rewind and the runbook use reads the
// whole stream back byte for byte.
func TestGzipperMembersReadBackWithEveryGunzip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	segments := make([][]byte, 3)
	for i := range segments {
		segments[i] = make([]byte, 1<<20+i*4099)
		for j := range segments[i] {
			segments[i][j] = byte(rng.Uint32()&0x0f) | 0x40
		}
	}
	want := bytes.Join(segments, nil)
	streams := map[string][]byte{}
	for _, writer := range []string{"igzip", ""} {
		t.Run("written by "+cmp.Or(writer, "pgzip"), func(t *testing.T) {
			onlyTool(t, writer)
			gz := archive.NewGzipper()
			require.Equal(t, cmp.Or(writer, "pgzip"), gz.Tool())
			var stream bytes.Buffer
			for _, seg := range segments {
				member, err := gz.Member(t.Context(), &stream)
				require.NoError(t, err)
				_, err = member.Write(seg)
				require.NoError(t, err)
				require.NoError(t, member.Close())
			}
			streams[gz.Tool()] = stream.Bytes()
		})
	}
	for _, reader := range gzipTools {
		t.Run("read by "+cmp.Or(reader, "go"), func(t *testing.T) {
			onlyTool(t, reader)
			for writer, stream := range streams {
				r, err := archive.Gunzip(t.Context(), bytes.NewReader(stream))
				require.NoError(t, err)
				got, err := io.ReadAll(r)
				require.NoError(t, err, "written by %s", writer)
				require.NoError(t, r.Close())
				require.True(t, bytes.Equal(want, got), "written by %s: read back %d bytes of %d", writer, len(got), len(want))
			}
		})
	}
}
