package archive_test

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/archive"
)

// TestGzipperMembersReadBackWithEveryGunzip: a snapshot is gzip members written one per
// segment, by igzip, pigz or Go; every decompressor Rewind and the runbook use reads the
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
	for _, writer := range gzipTools {
		t.Run("written by "+cmp.Or(writer, archive.GoGzip), func(t *testing.T) {
			onlyTool(t, writer)
			gz := archive.NewGzipper()
			require.Equal(t, cmp.Or(writer, archive.GoGzip), gz.Tool())
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
	// The runbook restores a snapshot with tar -xzf, that is gzip.
	for writer, stream := range streams {
		cmd := exec.Command("gzip", "-dc")
		cmd.Stdin = bytes.NewReader(stream)
		got, err := cmd.Output()
		require.NoError(t, err, "written by %s", writer)
		require.True(t, bytes.Equal(want, got), "gzip -dc of the stream written by %s", writer)
	}
}

// TestGoGunzipClosedEarlyLeavesTheRestToTheCaller: a walk reads the tar, then copies the
// rest of the stream; a restore then closes the decompressor and hashes the rest of the
// backup itself. The worker's own inflate reads ahead in another goroutine, which must
// have stopped by then, so every byte is hashed once and in order.
func TestGoGunzipClosedEarlyLeavesTheRestToTheCaller(t *testing.T) {
	onlyTool(t, "")
	rng := rand.New(rand.NewPCG(5, 6))
	plain := make([]byte, 8<<20)
	for i := range plain {
		plain[i] = byte(rng.Uint32()&0x0f) | 0x40
	}
	var stream bytes.Buffer
	gz := archive.NewGzipper()
	member, err := gz.Member(t.Context(), &stream)
	require.NoError(t, err)
	_, err = member.Write(plain)
	require.NoError(t, err)
	require.NoError(t, member.Close())
	whole := bytes.Clone(stream.Bytes())
	stream.Write(bytes.Repeat([]byte{0}, 3<<20)) // not gzip: what follows the stream is the caller's to read
	want := sha256.Sum256(stream.Bytes())

	r, err := archive.Gunzip(t.Context(), bytes.NewReader(whole))
	require.NoError(t, err)
	head := make([]byte, 1<<20+7)
	_, err = io.ReadFull(r, head)
	require.NoError(t, err)
	require.Equal(t, plain[:len(head)], head)
	// A walk reads the tar, then copies the rest.
	var rest bytes.Buffer
	_, err = io.Copy(&rest, r)
	require.NoError(t, err)
	require.True(t, bytes.Equal(plain[len(head):], rest.Bytes()), "copied after a read")
	require.NoError(t, r.Close())

	hash := sha256.New()
	src := io.TeeReader(bytes.NewReader(stream.Bytes()), hash)
	r, err = archive.Gunzip(t.Context(), src)
	require.NoError(t, err)
	_, err = io.ReadFull(r, head)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	_, err = io.Copy(io.Discard, src)
	require.NoError(t, err)
	require.Equal(t, want[:], hash.Sum(nil))
}
