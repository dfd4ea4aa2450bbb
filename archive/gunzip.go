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

// Gunzip decompresses src. Decompression bounds a restore and Go's inflate runs about 25%
// slower than zlib, so a host tool does it when present: ISA-L's `igzip` (Debian's isal,
// about 4× gzip on two cores), else `pigz` or `gzip`, the runbook's own; Go's reader is the
// fallback. Each checks the CRC and length. Close reports a damaged stream.
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
	return pgzip.NewReader(src)
}

// gunzipTools are the host's decompressors, fastest first.
func gunzipTools() []string { return []string{"igzip", "pigz", "gzip"} }

// Decompressor names what Gunzip uses on this host: the first of igzip, pigz and gzip
// found, else Go (pgzip).
func Decompressor() string {
	for _, tool := range gunzipTools() {
		if _, err := exec.LookPath(tool); err == nil {
			return tool
		}
	}
	return "pgzip"
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
