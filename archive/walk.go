package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Progress is reported at least this often, so a caller heartbeating from it never goes
// silent, even inside one large entry.
const (
	defaultProgressBytes   = 4 << 20
	defaultProgressEntries = 256
)

// WalkOptions say how a backup maps into a volume and how much of it to hand over.
type WalkOptions struct {
	// Layout maps entries into the volume; the zero value detects it.
	Layout Layout
	Limits
	// Skip resumes: the first Skip entries (by Entry.Index) are read and checked — the
	// hard-link and symlink rules need every earlier entry — but not visited.
	Skip int
	// Skipped, when set, sees each entry Skip passes over that lands in the volume.
	Skipped func(e Entry)
	// Progress, when set, is called with the entries read and the content bytes read so
	// far, at least every ProgressBytes and every ProgressEntries, and once at the end.
	Progress        func(entries int, bytes int64)
	ProgressBytes   int64 // 0: 4 MiB
	ProgressEntries int   // 0: 256
}

// Summary is what a walk found.
type Summary struct {
	// Layout is the layout applied: the given one, or the one detected.
	Layout Layout
	// Entries is every entry of the archive (the lines `tar -tzf` prints).
	Entries int
	// InVolume is the entries that land in the volume, visited or skipped by resume.
	InVolume int
	// Bytes is what the files in the volume unpack to (sparse files at full size).
	Bytes int64
	// SparseFiles is how many files the archive stored with holes.
	SparseFiles int
}

// Walk reads a gzipped tar backup from gz to its end and checks every entry against the
// rules of the package, in one pass. It calls visit for each entry that lands in the
// volume, in archive order, with the entry mapped into the volume and its content (the
// logical bytes of a regular file, sparse or not; empty for anything else). Content visit
// leaves unread is read past. visit may be nil: the walk then only checks.
//
// A refused archive returns a *UnsafeError, *CorruptError or *LimitError (ErrorType maps
// them to Temporal error types); visit may already have seen entries before the refusal,
// so a caller that must write nothing of a bad backup walks it once without visit first.
// An error from visit is returned as it is.
func Walk(ctx context.Context, gz io.Reader, o WalkOptions, visit func(e Entry, content io.Reader) error) (Summary, error) {
	w, err := newWalker(ctx, gz, o, visit)
	if err != nil {
		return Summary{}, err
	}
	raw, err := Gunzip(ctx, w.src)
	if err != nil {
		return Summary{}, w.damaged("", fmt.Errorf("open gzip: %w", err))
	}
	defer raw.Close()
	if err := w.run(tar.NewReader(raw)); err != nil {
		return w.summary(), err
	}
	// Whatever follows the tar's end is still gzip: its damage (a bad CRC, a cut file)
	// shows only when read to the end and when the tool exits.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return w.summary(), w.damaged("", err)
	}
	if err := raw.Close(); err != nil {
		return w.summary(), w.damaged("", err)
	}
	w.report()
	return w.summary(), nil
}

// WalkTar is Walk on a tar stream someone else decompressed (Rewind's mover reads what
// the worker's gzip tool writes): the same rules, the same entries, the same errors. It
// reads the stream to its end.
func WalkTar(ctx context.Context, stream io.Reader, o WalkOptions, visit func(e Entry, content io.Reader) error) (Summary, error) {
	w, err := newWalker(ctx, stream, o, visit)
	if err != nil {
		return Summary{}, err
	}
	if err := w.run(tar.NewReader(w.src)); err != nil {
		return w.summary(), err
	}
	if _, err := io.Copy(io.Discard, w.src); err != nil {
		return w.summary(), w.damaged("", err)
	}
	w.report()
	return w.summary(), nil
}

func newWalker(ctx context.Context, r io.Reader, o WalkOptions, visit func(e Entry, content io.Reader) error) (*walker, error) {
	if err := o.Layout.Validate(); err != nil {
		return nil, err
	}
	w := &walker{ctx: ctx, opts: o, visit: visit, src: &Source{R: r}}
	w.opts.ProgressBytes = cmpOr(o.ProgressBytes, defaultProgressBytes)
	w.opts.ProgressEntries = cmpOr(o.ProgressEntries, defaultProgressEntries)
	if !o.Layout.IsAuto() {
		var err error
		if w.checker, err = NewChecker(o.Layout, o.Limits); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func cmpOr[T int | int64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// walker is one walk's state.
type walker struct {
	ctx     context.Context
	src     *Source
	opts    WalkOptions
	visit   func(Entry, io.Reader) error
	checker *Checker // nil while an auto layout is being detected
	sum     Summary

	read         int   // headers read
	readBytes    int64 // content bytes read from the archive
	reportedAt   int
	reportedAtB  int64
	heldEntries  []heldEntry
	heldBytes    int
	detectedFrom []string
}

// heldEntry is an entry read while the layout was still being detected.
type heldEntry struct {
	hdr     *tar.Header
	content []byte
}

func (w *walker) run(tr *tar.Reader) error {
	for {
		if err := w.ctx.Err(); err != nil {
			return fmt.Errorf("read backup: %w", err)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return w.damaged("", err)
		}
		w.read++
		src := &entryReader{w: w, name: hdr.Name, src: tr, fromArchive: true}
		if w.checker != nil {
			if err := w.entry(hdr, src); err != nil {
				return err
			}
			continue
		}
		if err := w.detect(hdr, src); err != nil {
			return err
		}
	}
	if w.checker == nil {
		return w.decide(FlatLayout())
	}
	return nil
}

// detect holds entries back until their names decide the layout. Small files are held
// with their content; a file too large to hold decides at once.
func (w *walker) detect(hdr *tar.Header, src *entryReader) error {
	w.detectedFrom = append(w.detectedFrom, hdr.Name)
	fits := hdr.Size <= int64(detectBytes-w.heldBytes)
	if fits {
		content, err := io.ReadAll(src)
		if err != nil {
			return err
		}
		w.heldEntries = append(w.heldEntries, heldEntry{hdr: hdr, content: content})
		w.heldBytes += len(content)
	}
	l, ok := DetectLayout(w.detectedFrom, !fits || len(w.heldEntries) >= detectEntries)
	if !ok {
		return nil
	}
	if err := w.decide(l); err != nil {
		return err
	}
	if fits {
		return nil
	}
	return w.entry(hdr, src)
}

// decide fixes the layout and checks and visits the entries held so far.
func (w *walker) decide(l Layout) error {
	var err error
	if w.checker, err = NewChecker(l, w.opts.Limits); err != nil {
		return err
	}
	held := w.heldEntries
	w.heldEntries, w.detectedFrom = nil, nil
	for _, h := range held {
		if err := w.entry(h.hdr, &entryReader{w: w, name: h.hdr.Name, src: bytes.NewReader(h.content)}); err != nil {
			return err
		}
	}
	return nil
}

// entry checks one entry, visits it when it lands in the volume and reads past the rest
// of its content.
func (w *walker) entry(hdr *tar.Header, content *entryReader) error {
	e, inVolume, err := w.checker.Check(hdr)
	w.sum.Entries = w.checker.Entries()
	if err != nil {
		return err
	}
	if inVolume {
		w.sum.InVolume++
		if e.Sparse {
			w.sum.SparseFiles++
		}
		if isRegular(hdr.Typeflag) {
			w.sum.Bytes += hdr.Size
		}
		if e.Index < w.opts.Skip && w.opts.Skipped != nil {
			w.opts.Skipped(e)
		}
		if w.visit != nil && e.Index >= w.opts.Skip {
			var visible io.Reader = content
			if !isRegular(hdr.Typeflag) {
				visible = bytes.NewReader(nil) // a link's or a folder's data is not a file's
			}
			if err := w.visit(e, visible); err != nil {
				return err
			}
		}
	}
	if _, err := io.Copy(io.Discard, content); err != nil {
		return err
	}
	if w.read-w.reportedAt >= w.opts.ProgressEntries {
		w.report()
	}
	return nil
}

func (w *walker) addBytes(n int) {
	w.readBytes += int64(n)
	if w.readBytes-w.reportedAtB >= w.opts.ProgressBytes {
		w.report()
	}
}

func (w *walker) report() {
	w.reportedAt, w.reportedAtB = w.read, w.readBytes
	if w.opts.Progress != nil {
		w.opts.Progress(w.read, w.readBytes)
	}
}

func (w *walker) summary() Summary {
	s := w.sum
	if w.checker != nil {
		s.Layout = w.checker.Layout()
	}
	return s
}

// damaged turns a read error into a CorruptError, unless the walk was cancelled (the
// gzip tool is killed then, and its pipe breaks) or the backup could not be read (the
// gzip tool then sees a cut file): both are worth a retry.
func (w *walker) damaged(entry string, err error) error {
	if ctxErr := w.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("read backup: %w", ctxErr)
	}
	if srcErr := w.src.Failure(); srcErr != nil {
		return fmt.Errorf("read backup: %w", srcErr)
	}
	var corrupt *CorruptError
	if errors.As(err, &corrupt) {
		return err
	}
	whole := w.read
	if entry != "" {
		whole--
	}
	return &CorruptError{Entries: whole, Entry: entry, Err: err}
}

// entryReader is one entry's content: it counts bytes read from the archive for progress
// and reports damage as a CorruptError naming the entry.
type entryReader struct {
	w           *walker
	name        string
	src         io.Reader
	fromArchive bool
}

func (r *entryReader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	if r.fromArchive && n > 0 {
		r.w.addBytes(n)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = r.w.damaged(r.name, err)
	}
	return n, err
}

// Source reads a backup and remembers why reading it failed, if it did: such a failure
// is worth a retry, unlike damage in the backup. The gzip tool (through os/exec) and pgzip
// read it on goroutines of their own, hence the lock.
type Source struct {
	R   io.Reader
	mu  sync.Mutex
	err error
}

func (s *Source) Read(p []byte) (int, error) {
	n, err := s.R.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

// Failure is the first error reading the backup returned, other than its end.
func (s *Source) Failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func isRegular(flag byte) bool {
	switch flag {
	case tar.TypeReg, typeRegV7, tar.TypeCont, tar.TypeGNUSparse:
		return true
	}
	return false
}
