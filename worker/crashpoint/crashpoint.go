// Package crashpoint makes the worker process die with SIGKILL at a named point, so tests
// prove a rollback survives a crash there. It is inert unless REWIND_CRASH_AT names a point:
//
//	before:<Activity>   before the activity runs
//	after:<Activity>    after it finished, before Temporal hears of it
//	inside:SwapVolume   the swap's mover stops between its two renames, as a crash of the
//	                    host would stop it, and the worker dies as the step returns
//	during:<kind>@<n>   once a transfer (snapshot, upload, download, restore, copy) moved n bytes
//	pause:<kind>@<n>    there, wait for SIGUSR1 instead of dying (to restart Temporal meanwhile)
//
// n takes a KiB or MiB suffix.
package crashpoint

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/algotrendy/rewind/meter"
)

// StopsSwapBetweenMoves says the swap's mover must stop after its first rename.
func (p *Point) StopsSwapBetweenMoves() bool {
	return p != nil && p.When == "inside" && p.Activity == "SwapVolume"
}

// Point is where to crash.
type Point struct {
	When string // before, after, inside, during or pause
	// Activity names the activity of before and after; Transfer and Bytes the transfer of
	// during and pause.
	Activity string
	Transfer string
	Bytes    int64
}

func (p *Point) String() string {
	if p.Transfer != "" {
		return fmt.Sprintf("%s:%s@%d", p.When, p.Transfer, p.Bytes)
	}
	return p.When + ":" + p.Activity
}

const usage = "want before:<Activity>, after:<Activity>, inside:SwapVolume, during:<transfer>@<bytes> or pause:<transfer>@<bytes>, transfer one of snapshot, upload, download, restore, copy"

// Parse reads a point like "after:SnapshotVolume" or "during:restore@2MiB"; empty means none.
func Parse(spec string) (*Point, error) {
	if spec == "" {
		return nil, nil
	}
	bad := fmt.Errorf("REWIND_CRASH_AT=%q: %s", spec, usage)
	when, what, ok := strings.Cut(spec, ":")
	if !ok || what == "" {
		return nil, bad
	}
	switch when {
	case "before", "after":
		return &Point{When: when, Activity: what}, nil
	case "inside":
		if what == "SwapVolume" {
			return &Point{When: when, Activity: what}, nil
		}
	case "during", "pause":
		kind, size, ok := strings.Cut(what, "@")
		n, err := parseBytes(size)
		if !ok || err != nil || n <= 0 {
			return nil, bad
		}
		switch kind {
		case meter.Snapshot, meter.Upload, meter.Download, meter.Restore, meter.Copy:
			return &Point{When: when, Transfer: kind, Bytes: n}, nil
		}
	}
	return nil, bad
}

func parseBytes(s string) (int64, error) {
	unit := int64(1)
	switch {
	case strings.HasSuffix(s, "MiB"):
		unit, s = 1<<20, strings.TrimSuffix(s, "MiB")
	case strings.HasSuffix(s, "KiB"):
		unit, s = 1<<10, strings.TrimSuffix(s, "KiB")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * unit, err
}

// Interceptor kills (or pauses) the process at the point.
func Interceptor(p *Point) interceptor.WorkerInterceptor {
	return &workerInterceptor{point: p}
}

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	point *Point
	// once: a pause point holds the first transfer that gets there, not its retries.
	once sync.Once
	// moved is what this worker's transfers moved, by kind, for the crash report: a test
	// compares it with what the next worker sends to measure what was sent twice.
	mu    sync.Mutex
	moved map[string]int64
}

func (w *workerInterceptor) count(kind string, n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.moved == nil {
		w.moved = map[string]int64{}
	}
	w.moved[kind] += n
}

// die reports the point and what this worker moved, then kills the process.
func (w *workerInterceptor) die(what string) {
	w.mu.Lock()
	moved := fmt.Sprintf("moved snapshot=%d upload=%d download=%d restore=%d copy=%d",
		w.moved[meter.Snapshot], w.moved[meter.Upload], w.moved[meter.Download], w.moved[meter.Restore], w.moved[meter.Copy])
	w.mu.Unlock()
	fmt.Fprintf(os.Stderr, "crash point %s; %s: SIGKILL\n", what, moved)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal ends the process; nothing after it may run
}

func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityInterceptor{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, w: w}
}

type activityInterceptor struct {
	interceptor.ActivityInboundInterceptorBase
	w *workerInterceptor
}

func (a *activityInterceptor) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	p := a.w.point
	name := activity.GetInfo(ctx).ActivityType.Name
	ctx = meter.With(ctx, func(kind string, moved, total int64) {
		a.w.count(kind, moved)
		if p.Transfer == "" || kind != p.Transfer || total < p.Bytes {
			return
		}
		if p.When == "during" {
			a.w.die(fmt.Sprintf("%s reached after %d bytes of %s in %s", p, total, kind, name))
		}
		a.w.once.Do(func() { pause(p, total, name) })
	})
	if p.Activity == name && p.When == "before" {
		a.w.die(p.String() + " reached")
	}
	res, err := a.Next.ExecuteActivity(ctx, in)
	if p.Activity == name && p.When == "inside" {
		a.w.die(fmt.Sprintf("%s reached (the step returned %v)", p, err))
	}
	if p.Activity == name && p.When == "after" && err == nil {
		a.w.die(p.String() + " reached")
	}
	return res, err
}

func pause(p *Point, total int64, name string) {
	resume := make(chan os.Signal, 1)
	signal.Notify(resume, syscall.SIGUSR1)
	defer signal.Stop(resume)
	fmt.Fprintf(os.Stderr, "crash point %s: paused after %d bytes in %s until SIGUSR1\n", p, total, name)
	<-resume
	fmt.Fprintf(os.Stderr, "crash point %s: resumed\n", p)
}
