// Package meter lets a worker watch the bytes Rewind's transfers move (snapshot, upload,
// download, restore, copy) through the activity's context: the worker exports them as metrics,
// and crash points in tests stop the process after a given number of bytes.
package meter

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Kinds of transfer.
const (
	Snapshot = "snapshot" // compressed snapshot bytes written on the worker's host
	Upload   = "upload"   // bytes handed to a remote store
	Download = "download" // backup bytes fetched onto the worker's host
	Restore  = "restore"  // file bytes of a backup written into a (staging) volume
	Copy     = "copy"     // file bytes copied from a staging volume into the stack's
)

// Watch sees every advance of one transfer: its kind, the bytes just moved and the
// attempt's running total of that kind.
type Watch func(kind string, moved, total int64)

type watchKey struct{}

// With adds w to the watches of ctx; earlier watches keep seeing every advance too.
func With(ctx context.Context, w Watch) context.Context {
	prev, _ := ctx.Value(watchKey{}).(*watches)
	return context.WithValue(ctx, watchKey{}, &watches{list: append(prev.copy(), w)})
}

type watches struct {
	list   []Watch
	mu     sync.Mutex
	totals map[string]int64
}

func (w *watches) copy() []Watch {
	if w == nil {
		return nil
	}
	return append([]Watch(nil), w.list...)
}

// Counter adds the bytes of one transfer; it does nothing when nobody watches.
type Counter struct {
	kind string
	w    *watches
}

// For returns the counter of kind in ctx.
func For(ctx context.Context, kind string) Counter {
	w, _ := ctx.Value(watchKey{}).(*watches)
	return Counter{kind: kind, w: w}
}

// Add records n bytes moved.
func (c Counter) Add(n int64) {
	if c.w == nil || n == 0 {
		return
	}
	c.w.mu.Lock()
	if c.w.totals == nil {
		c.w.totals = map[string]int64{}
	}
	c.w.totals[c.kind] += n
	total := c.w.totals[c.kind]
	c.w.mu.Unlock()
	for _, w := range c.w.list {
		w(c.kind, n, total)
	}
}

// Writer counts what passes through to dst.
func (c Counter) Writer(dst io.Writer) io.Writer {
	if c.w == nil {
		return dst
	}
	return writer{dst: dst, c: c}
}

// Reader counts what is read through it from src.
func (c Counter) Reader(src io.Reader) io.Reader {
	if c.w == nil {
		return src
	}
	return reader{src: src, c: c}
}

type reader struct {
	src io.Reader
	c   Counter
}

func (r reader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	r.c.Add(int64(n))
	return n, err
}

type writer struct {
	dst io.Writer
	c   Counter
}

func (w writer) Write(p []byte) (int, error) {
	n, err := w.dst.Write(p)
	w.c.Add(int64(n))
	return n, err
}

// MiB writes a byte count as people read transfers: "812.3 MiB".
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
