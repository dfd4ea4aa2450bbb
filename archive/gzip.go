package archive

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os/exec"

	"github.com/klauspost/pgzip"
)

// Gzipper writes gzip members, one per checkpointed segment of a snapshot. ISA-L's
// `igzip -1` compresses database columns several times faster than `gzip -6` and smaller;
// `pigz -1` on every core comes next; without either, pgzip compresses in the worker on
// every core at level 1.
type Gzipper struct {
	tool, path string
	gz         *pgzip.Writer // one for every member: a new one per member costs ~100 MiB of garbage a GiB
}

// NewGzipper finds the host's igzip or pigz, or prepares the in-process compressor.
func NewGzipper() *Gzipper {
	for _, tool := range gunzipTools() {
		if path, err := exec.LookPath(tool); err == nil {
			return &Gzipper{tool: tool, path: path}
		}
	}
	return &Gzipper{}
}

// Tool names the compressor this host uses: igzip, pigz or go.
func (g *Gzipper) Tool() string { return cmp.Or(g.tool, GoGzip) }

// Member starts one gzip member written to dst; Close ends it and reports the compressor's
// failure.
func (g *Gzipper) Member(ctx context.Context, dst io.Writer) (io.WriteCloser, error) {
	if g.path == "" {
		if g.gz == nil {
			gz, err := pgzip.NewWriterLevel(dst, pgzip.BestSpeed)
			if err != nil {
				return nil, err
			}
			g.gz = gz
		}
		g.gz.Reset(dst) // which also puts back pgzip's default blocks: 1 MiB, one a core
		// Level 1 on every core, as igzip -1: a forensic copy must be stored fast, not
		// small. Four 256 KiB blocks in flight keep two cores busy in ~10 MiB; 1 MiB
		// blocks took twice that for the same speed and size.
		if err := g.gz.SetConcurrency(256<<10, 4); err != nil {
			return nil, err
		}
		return g.gz, nil
	}
	cmd := exec.CommandContext(ctx, g.path, "-1", "-c")
	cmd.Stdout = dst
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", g.tool, err)
	}
	return &toolWriter{WriteCloser: in, cmd: cmd, tool: g.tool, stderr: &stderr}, nil
}

type toolWriter struct {
	io.WriteCloser
	cmd    *exec.Cmd
	tool   string
	stderr *limitedBuffer
}

// Close ends the member: the tool has written all of it to dst when Close returns nil.
func (t *toolWriter) Close() error {
	cerr := t.WriteCloser.Close()
	if err := t.cmd.Wait(); err != nil {
		return fmt.Errorf("%s -1 -c: %s (%w)", t.tool, oneLine(t.stderr.String()), err)
	}
	return cerr
}
