// Package mover is Rewind's own program for a volume's bytes. The worker's binary runs it
// (`worker mover ...`) in a helper container that mounts the volumes, so the bytes never
// pass through the engine's archive API: it restores a backup's checked tar stream into a
// volume, copies one volume into another, measures a volume's room, and swaps a volume's
// content with its staging volume's by renaming their _data folders. A swap moves the
// damaged content aside whole into a forensic volume and the staged content into the live
// volume, in time that does not grow with the data; the folders' inode numbers, taken
// before the first rename, say which renames are done, so every step is idempotent.
package mover

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/algotrendy/rewind/archive"
)

// Inodes identify the live and the staged content, whatever folder they are in now.
type Inodes struct {
	Live, Staging uint64
}

// Volumes are the three volumes of one swap, by name, under Root (the engine's volumes
// folder as the helper mounts it).
type Volumes struct {
	Root                    string
	Live, Staging, Forensic string
}

func (v Volumes) data(name string) string { return filepath.Join(v.Root, name, "_data") }

// Read returns the inodes of the live and the staged content before a swap.
func Read(v Volumes) (Inodes, error) {
	live, err := inode(v.data(v.Live))
	if err != nil {
		return Inodes{}, err
	}
	staging, err := inode(v.data(v.Staging))
	if err != nil {
		return Inodes{}, err
	}
	return Inodes{Live: live, Staging: staging}, nil
}

// Swap moves the live content into the forensic volume and the staged content into the
// live volume; the staging volume is left with an empty folder.
func Swap(v Volumes, in Inodes) error {
	if err := moveAside(v, in); err != nil {
		return err
	}
	if err := move(v.data(v.Staging), v.data(v.Live), in.Staging); err != nil {
		return fmt.Errorf("move the staged content into %s: %w", v.Live, err)
	}
	return ensureDir(v.data(v.Staging))
}

// moveAside is the swap's first half: the staged data made durable, the damaged content
// moved into the forensic volume.
func moveAside(v Volumes, in Inodes) error {
	// The staged data was written without syncs; it goes live durable.
	if err := syncFS(v.data(v.Staging)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sync the staged content of %s: %w", v.Live, err)
	}
	if err := move(v.data(v.Live), v.data(v.Forensic), in.Live); err != nil {
		return fmt.Errorf("move the damaged content of %s aside: %w", v.Live, err)
	}
	return nil
}

// Unswap puts the live volume's content back from the forensic volume, and the staged
// content back into staging: the swap undone.
func Unswap(v Volumes, in Inodes) error {
	if err := move(v.data(v.Live), v.data(v.Staging), in.Staging); err != nil {
		return fmt.Errorf("move the staged content out of %s: %w", v.Live, err)
	}
	if err := move(v.data(v.Forensic), v.data(v.Live), in.Live); err != nil {
		return fmt.Errorf("move the damaged content back into %s: %w", v.Live, err)
	}
	return ensureDir(v.data(v.Forensic))
}

// move renames from to to when the content with inode id is still at from; content
// already at to is a move done before. An empty folder at to is replaced.
func move(from, to string, id uint64) error {
	if at, err := inode(to); err == nil && at == id {
		return nil
	}
	at, err := inode(from)
	if err != nil {
		return err
	}
	if at != id {
		return fmt.Errorf("%s holds other content (inode %d) than recorded (%d); nothing was moved", from, at, id)
	}
	if err := os.Remove(to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("make room at %s (it must be an empty folder): %w", to, err)
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return syncDir(filepath.Dir(to))
}

func ensureDir(p string) error {
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// syncFS writes the dirty data of the filesystem holding p to disk.
func syncFS(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

// syncDir makes a rename durable.
func syncDir(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func inode(p string) (uint64, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return 0, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.IsDir() {
		return 0, fmt.Errorf("%s is not a folder", p)
	}
	return sys.Ino, nil
}

// Main runs the mover as a command: `inodes`, `swap` or `unswap` with the volumes and,
// for the last two, the inodes `inodes` printed; `restore`, which extracts a checked
// stream into a volume; or `copy`, which copies a folder into one. It prints JSON and
// returns the exit code.
func Main(args []string, stdin io.Reader, out, errOut io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(errOut, "usage: mover inodes|swap|unswap --root DIR --live V --staging V --forensic V [--live-inode N --staging-inode N]\n       mover restore --stream FIFO --into DIR --layout L --batch BYTES [--max-bytes N --skip N]\n       mover copy --from DIR --into DIR --batch BYTES [--skip N --stdin-lifeline]")
		return 2
	}
	if args[0] == "restore" || args[0] == "copy" {
		return writeMain(args[0], args[1:], stdin, out, errOut)
	}
	if args[0] == "room" {
		return roomMain(args[1:], out, errOut)
	}
	fl := flag.NewFlagSet("mover "+args[0], flag.ContinueOnError)
	fl.SetOutput(errOut)
	var v Volumes
	var in Inodes
	fl.StringVar(&v.Root, "root", "/volumes", "the engine's volumes folder")
	fl.StringVar(&v.Live, "live", "", "the stack's volume")
	fl.StringVar(&v.Staging, "staging", "", "the staging volume")
	fl.StringVar(&v.Forensic, "forensic", "", "the forensic volume")
	fl.Uint64Var(&in.Live, "live-inode", 0, "inode of the live content")
	fl.Uint64Var(&in.Staging, "staging-inode", 0, "inode of the staged content")
	stopBetween := fl.Bool("stop-between-moves", false, "swap: stop after the first rename, as a crash there would (crash tests)")
	if err := fl.Parse(args[1:]); err != nil {
		return 2
	}
	var err error
	switch args[0] {
	case "inodes":
		in, err = Read(v)
	case "swap":
		if *stopBetween {
			if err = moveAside(v, in); err == nil {
				fmt.Fprintln(errOut, "mover: stopped between the two renames, as told (a crash test)")
				return 3
			}
			break
		}
		err = Swap(v, in)
	case "unswap":
		err = Unswap(v, in)
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(errOut, "mover:", err)
		return 1
	}
	_ = json.NewEncoder(out).Encode(in)
	return 0
}

// writeMain restores the tar stream the worker writes into a FIFO, or copies a folder,
// into a volume and prints an Ack per batch, one JSON line each; a refused backup ends
// with an Ack naming the rule (exit 1).
func writeMain(command string, args []string, stdin io.Reader, out, errOut io.Writer) int {
	fl := flag.NewFlagSet("mover "+command, flag.ContinueOnError)
	fl.SetOutput(errOut)
	stream := fl.String("stream", "", "restore: the FIFO the worker writes the decompressed backup into")
	from := fl.String("from", "", "copy: the folder to copy")
	into := fl.String("into", "/data", "the volume's folder")
	layout := fl.String("layout", "auto", "restore: where the volume's files sit in the backup")
	var o RestoreOptions
	fl.Int64Var(&o.Batch, "batch", 256<<20, "file bytes between acks")
	fl.Int64Var(&o.MaxBytes, "max-bytes", 0, "restore: refuse a backup that unpacks to more (0: the default)")
	fl.IntVar(&o.Skip, "skip", 0, "entries an earlier attempt wrote")
	lifeline := fl.Bool("stdin-lifeline", false, "stop when stdin closes: the worker that started this mover is gone")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if *lifeline {
		// The next attempt goes on from the last ack; what this one would write after it
		// would be written again.
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel(errors.New("the worker that started this mover is gone (stdin closed)"))
		}()
	}
	enc := json.NewEncoder(out)
	ack := func(a Ack) error { return enc.Encode(a) }
	var err error
	if command == "copy" {
		err = Copy(ctx, *from, *into, o, ack)
	} else {
		if o.Layout, err = archive.ParseLayout(*layout); err != nil {
			fmt.Fprintln(errOut, "mover:", err)
			return 2
		}
		err = restoreFIFO(ctx, *stream, *into, o, ack)
	}
	if archive.ErrorType(err) != "" {
		return 1
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		fmt.Fprintln(errOut, "mover:", err)
		return 3
	}
	return 0
}

func restoreFIFO(ctx context.Context, stream, into string, o RestoreOptions, ack func(Ack) error) error {
	f, err := os.Open(stream)
	if err != nil {
		return err
	}
	defer f.Close()
	return Restore(ctx, f, into, o, ack)
}

// Room is the space of the filesystem a volume lies on: what is free, and what the
// volume's own files take.
type Room struct {
	Free, Used int64
}

// MeasureRoom measures the filesystem of dir and the blocks its files take.
func MeasureRoom(dir string) (Room, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Room{}, fmt.Errorf("measure the filesystem of %s: %w", dir, err)
	}
	r := Room{Free: int64(st.Bavail) * st.Bsize}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if sys, ok := info.Sys().(*syscall.Stat_t); ok && p != dir {
			r.Used += sys.Blocks * 512
		}
		return nil
	})
	if err != nil {
		return Room{}, fmt.Errorf("measure the files of %s: %w", dir, err)
	}
	return r, nil
}

// roomMain prints the Room of the volume at --into.
func roomMain(args []string, out, errOut io.Writer) int {
	fl := flag.NewFlagSet("mover room", flag.ContinueOnError)
	fl.SetOutput(errOut)
	into := fl.String("into", "/data", "the volume's folder")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	r, err := MeasureRoom(*into)
	if err != nil {
		fmt.Fprintln(errOut, "mover:", err)
		return 4
	}
	_ = json.NewEncoder(out).Encode(r)
	return 0
}
