package archive

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// gatedSource says when it is read, then waits to be let go; each read fills p.
type gatedSource struct{ reading, gate chan struct{} }

func (g *gatedSource) Read(p []byte) (int, error) {
	g.reading <- struct{}{}
	<-g.gate
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// After Close the source is not read again, even with free buffers: a read the goroutine
// started before Close is the last one. (Before, the goroutine chose at random between a
// free buffer and stop, so one run in two read on; 20 runs make that near certain.)
func TestReadaheadReadsNothingAfterClose(t *testing.T) {
	for range 20 {
		src := &gatedSource{reading: make(chan struct{}), gate: make(chan struct{})}
		r := newReadahead(src, 4, 3)
		for range 3 { // the goroutine fills all three buffers
			<-src.reading
			src.gate <- struct{}{}
		}
		p := make([]byte, 4)
		_, err := r.Read(p) // takes the first buffer
		require.NoError(t, err)
		_, err = r.Read(p) // frees it: the goroutine reads into it again
		require.NoError(t, err)
		<-src.reading
		_, err = r.Read(p) // frees the second: a free buffer once that read ends
		require.NoError(t, err)

		closed := make(chan struct{})
		go func() {
			r.Close()
			close(closed)
		}()
		<-r.stop
		src.gate <- struct{}{} // the read started before Close ends
		select {
		case <-closed:
		case <-src.reading:
			close(src.gate)
			<-closed
			t.Fatal("the source was read after Close")
		}
	}
}
