// Package heartbeat is how Rewind's activities report that they are alive and how far
// they got: Beat records a heartbeat with details, Reader counts bytes as they pass, and
// Keepalive (a worker interceptor) heartbeats for an activity that is busy in one long
// call, re-sending the details it last reported so a retry still resumes from them.
package heartbeat

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// last holds the details an activity last reported, for Keepalive to send again.
type last struct {
	mu      sync.Mutex
	details []any
	at      time.Time
}

type lastKey struct{}

// Beat records a heartbeat when running as an activity; the same code also serves the
// demo's tools, outside any activity.
func Beat(ctx context.Context, details ...any) {
	if !activity.IsActivity(ctx) {
		return
	}
	if l, ok := ctx.Value(lastKey{}).(*last); ok {
		l.mu.Lock()
		l.details, l.at = details, time.Now()
		l.mu.Unlock()
	}
	activity.RecordHeartbeat(ctx, details...)
}

// Reader counts the bytes read through it and calls beat with the total at most every
// interval, and stops when its context ends. N may be called from any goroutine: a
// read-ahead goroutine reads while the consumer reports progress.
type Reader struct {
	R   io.Reader
	Ctx context.Context
	// From is where the count starts (a download resumed at that offset).
	From     int64
	Interval time.Duration
	Beat     func(n int64)
	n        atomic.Int64
	next     time.Time // only Read uses it
}

// N is From plus the bytes read so far.
func (r *Reader) N() int64 { return r.From + r.n.Load() }

func (r *Reader) Read(p []byte) (int, error) {
	if err := r.Ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.R.Read(p)
	total := r.From + r.n.Add(int64(n))
	if r.Beat != nil {
		if now := time.Now(); now.After(r.next) {
			r.next = now.Add(max(r.Interval, time.Second))
			r.Beat(total)
		}
	}
	return n, err
}

// Keepalive heartbeats every interval for each running activity that has not reported
// for that long, with the details it reported last: a worker that is alive never loses a
// step to the heartbeat timeout, and one that died is noticed within it.
func Keepalive(interval time.Duration) interceptor.WorkerInterceptor {
	return &keepalive{interval: interval}
}

type keepalive struct {
	interceptor.WorkerInterceptorBase
	interval time.Duration
}

func (k *keepalive) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &keepaliveActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, interval: k.interval}
}

type keepaliveActivity struct {
	interceptor.ActivityInboundInterceptorBase
	interval time.Duration
}

func (k *keepaliveActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	l := &last{at: time.Now()}
	if activity.HasHeartbeatDetails(ctx) {
		// Until the activity reports, a beat re-sends the previous attempt's checkpoint, so
		// a crash before its first report still leaves that checkpoint to resume from.
		var prev json.RawMessage
		if activity.GetHeartbeatDetails(ctx, &prev) == nil {
			l.details = []any{prev}
		}
	}
	ctx = context.WithValue(ctx, lastKey{}, l)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(k.interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				l.mu.Lock()
				quiet := time.Since(l.at) >= k.interval
				details := l.details
				l.mu.Unlock()
				if quiet {
					activity.RecordHeartbeat(ctx, details...)
				}
			}
		}
	}()
	return k.Next.ExecuteActivity(ctx, in)
}
