package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/klauspost/pgzip"
)

// Gunzip decompresses src. Decompression bounds a restore, so a host tool does it when
// present: ISA-L's `igzip` (Debian's isal; GzipCost says what the others cost), else
// `pigz` (reads, inflates and checks on three threads). Without them the worker inflates
// itself: klauspost's flate is as fast as `gzip -dc` (the standard library's is ~25%
// slower) and in-process it saves two pipe copies, so `gzip` is never run. Each checks the CRC and
// length. Close reports a damaged stream, and waits for a read of src under way: src must
// end its reads when ctx ends.
func Gunzip(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	for _, tool := range gunzipTools() {
		path, err := exec.LookPath(tool)
		if err != nil {
			continue
		}
		cmd := exec.CommandContext(ctx, path, "-dc")
		cmd.Stdin = src
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		var stderr limitedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			continue
		}
		return &toolReader{ReadCloser: out, cmd: cmd, stderr: &stderr}, nil
	}
	return goGunzip(src)
}

// gunzipTools are the host's decompressors, fastest first.
func gunzipTools() []string { return []string{"igzip", "pigz"} }

// GoGzip names the worker's own (de)compressor, used where the host has neither tool.
const GoGzip = "go"

// Decompressor names what Gunzip uses on this host: igzip or pigz when found, else go.
func Decompressor() string {
	for _, tool := range gunzipTools() {
		if _, err := exec.LookPath(tool); err == nil {
			return tool
		}
	}
	return GoGzip
}

// GzipCost says what restores lose on a host whose best tool is tool (see Decompressor)
// and what to install; both are empty for igzip. From the README's bench (2 cores, 1 GiB):
// with igzip a restore takes about half of `tar -xzf`, in Go about as long (0.75–1.2×).
// pigz was not benched: it too inflates a member on one core, with its reading and CRC on
// other threads. The worker's log and `rewind doctor` say it in these words.
func GzipCost(tool string) (cost, install string) {
	switch tool {
	case "igzip":
		return "", ""
	case "pigz":
		return "igzip (Debian's isal) is not installed: restores inflate with pigz on one core, up to 2× as long as with igzip",
			"apt-get install isal (the rewind package depends on it)"
	}
	return "neither igzip nor pigz is installed: the worker inflates and compresses in Go, restores about 2× as long as with igzip (as long as tar -xzf)",
		"apt-get install isal pigz (the rewind package depends on both)"
}

// goGunzip inflates in three goroutines that overlap on the host's cores: one reads src
// (and whatever src hashes as it is read), pgzip's inflates ahead of the caller, and the
// caller consumes. Memory is bounded: 1 MiB read ahead, 2 MiB inflated ahead (more buys
// no speed: inflating is the slow stage).
func goGunzip(src io.Reader) (io.ReadCloser, error) {
	ra := newReadahead(src, 256<<10, 4)
	gz, err := pgzip.NewReaderN(ra, 512<<10, 4)
	if err != nil {
		ra.Close()
		return nil, err
	}
	return &goReader{gz: gz, ra: ra}, nil
}

// goReader offers Read only: pgzip's WriteTo panics after a Read (v1.2.6), and a walk
// reads the tar, then copies what follows it.
type goReader struct {
	gz *pgzip.Reader
	ra *readahead
}

func (g *goReader) Read(p []byte) (int, error) { return g.gz.Read(p) }

// Close stops the inflating goroutine, then the reading one: src is not read after
// Close returns. A read of src under way is waited for.
func (g *goReader) Close() error {
	err := g.gz.Close()
	g.ra.Close()
	return err
}

// readahead reads src in its own goroutine into a few fixed buffers. Close waits for a
// read under way, so src must end its reads when the caller's context ends (as
// heartbeat.Reader does).
type readahead struct {
	full, free chan []byte
	stop       chan struct{}
	err        error // src's error (io.EOF at its end), set before full is closed
	cur, chunk []byte
	closed     bool
}

func newReadahead(src io.Reader, size, n int) *readahead {
	r := &readahead{full: make(chan []byte, n), free: make(chan []byte, n), stop: make(chan struct{})}
	for range n {
		r.free <- make([]byte, size)
	}
	go r.fill(src)
	return r
}

func (r *readahead) fill(src io.Reader) {
	defer close(r.full)
	for {
		// Stop first: select picks at random among ready cases, and a free buffer would
		// read on after Close.
		select {
		case <-r.stop:
			return
		default:
		}
		var b []byte
		select {
		case b = <-r.free:
		case <-r.stop:
			return
		}
		n, err := io.ReadFull(src, b)
		if n > 0 {
			r.full <- b[:n] // never blocks: full holds every buffer there is
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		if err != nil {
			r.err = err
			return
		}
	}
}

func (r *readahead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.chunk != nil {
			r.free <- r.chunk[:cap(r.chunk)]
			r.chunk = nil
		}
		b, ok := <-r.full
		if !ok {
			return 0, r.err
		}
		r.chunk, r.cur = b, b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops reading and waits for the reading goroutine to end.
func (r *readahead) Close() {
	if r.closed {
		return
	}
	r.closed = true
	close(r.stop)
	for range r.full {
	}
}

type toolReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *limitedBuffer
	err    error
}

// Read turns the tool's failure at the end of its output into a read error.
func (t *toolReader) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		if werr := t.cmd.Wait(); werr != nil {
			t.err = fmt.Errorf("%s -dc: %s (%w)", filepath.Base(t.cmd.Path), oneLine(t.stderr.String()), werr)
			return n, t.err
		}
		t.cmd = nil
	}
	return n, err
}

func (t *toolReader) Close() error {
	t.ReadCloser.Close()
	if t.cmd != nil {
		_ = t.cmd.Process.Kill()
		_ = t.cmd.Wait()
	}
	return t.err
}

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 4096 {
		l.b = append(l.b, p[:min(len(p), 4096-len(l.b))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// oneLine joins a tool's stderr lines, for an error message that stays on one line.
func oneLine(s string) string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "; ")
}
