package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// consistency sets the stack's backups.consistency.
func (e *env) consistency(mode string) {
	e.t.Helper()
	body, err := os.ReadFile(e.config)
	require.NoError(e.t, err)
	edited := strings.Replace(string(body), "require_checksum: true}", "require_checksum: true, consistency: "+mode+"}", 1)
	require.NotEqual(e.t, string(body), edited, "the stack's backups line")
	require.NoError(e.t, os.WriteFile(e.config, []byte(edited), 0o600))
}

// seqWriter inserts rows numbered 1, 2, 3… (exchange 'seq', price n) into the demo's
// market database through /exec, one at a time, until stopped; committed is the highest
// number the database acknowledged.
type seqWriter struct {
	committed atomic.Int64
	// sent is when each number's INSERT was sent (sent[n-1]).
	mu   sync.Mutex
	sent []time.Time
	stop chan struct{}
	done sync.WaitGroup
	err  atomic.Value
}

func (e *env) writeContinuously() *seqWriter {
	w := &seqWriter{stop: make(chan struct{})}
	hc := &http.Client{Timeout: 2 * time.Minute}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for n := int64(1); ; n++ {
			select {
			case <-w.stop:
				return
			default:
			}
			q := fmt.Sprintf("INSERT INTO market_data VALUES ('2026-12-03T00:00:00Z', 'seq', 'n', %d, 1)", n)
			w.mu.Lock()
			w.sent = append(w.sent, time.Now())
			w.mu.Unlock()
			resp, err := hc.Get(e.dbURL() + "/exec?query=" + url.QueryEscape(q))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("insert %d: %s", n, resp.Status)
				}
			}
			if err != nil {
				w.err.Store(err)
				return
			}
			w.committed.Store(n)
		}
	}()
	return w
}

// halt stops the writer and returns the highest number committed.
func (w *seqWriter) halt(t testing.TB) int64 {
	close(w.stop)
	w.done.Wait()
	if err, ok := w.err.Load().(error); ok {
		t.Fatalf("the writer failed: %v", err)
	}
	return w.committed.Load()
}

// sentBefore is the highest number whose INSERT was sent before at.
func (w *seqWriter) sentBefore(at time.Time) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := int64(0)
	for i, sent := range w.sent {
		if sent.Before(at) {
			n = int64(i + 1)
		}
	}
	return n
}

// heldAt is when the backup's hold was in place, as the worker reported it: the first
// CHECKPOINT CREATE's answer, or the pause.
func heldAt(t testing.TB, c sdkclient.Client, id, mode string) time.Time {
	t.Helper()
	step := map[string]string{"checkpoint": "CheckpointDatabase", "pause": "HoldWrites"}[mode]
	var at time.Time
	eachActivityEvent(t, c, id, func(typ string, ev *historypb.HistoryEvent) {
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && typ == step && at.IsZero() {
			var held struct{ At time.Time }
			require.NoError(t, json.Unmarshal(a.GetResult().GetPayloads()[0].GetData(), &held))
			at = held.At
		}
	})
	require.False(t, at.IsZero(), "no %s completed in %s", step, id)
	return at
}

// eachActivityEvent calls see with every event of a workflow's history and the type of
// the activity it is about ("" for other events).
func eachActivityEvent(t testing.TB, c sdkclient.Client, id string, see func(activityType string, ev *historypb.HistoryEvent)) {
	t.Helper()
	typeOf := map[int64]string{}
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			typeOf[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		scheduled := ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId() +
			ev.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
		see(typeOf[scheduled], ev)
	}
}

// seqRows is what the database holds of the writer's rows: how many, the smallest and the
// largest number, and how many distinct numbers.
func (e *env) seqRows(t testing.TB) (count, least, most, distinct int64) {
	t.Helper()
	q := "SELECT COUNT(*), COALESCE(MIN(price), 0), COALESCE(MAX(price), 0), COUNT(DISTINCT price) FROM market_data WHERE exchange = 'seq'"
	resp, err := http.Get(e.dbURL() + "/exec?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Dataset [][]float64 `json:"dataset"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Len(t, out.Dataset, 1)
	r := out.Dataset[0]
	return int64(r[0]), int64(r[1]), int64(r[2]), int64(r[3])
}

var backupName = regexp.MustCompile(`questdb_backup_\d{8}_\d{6}\.tar\.gz`)

// A backup taken while the demo writes without pause restores, through a full rollback
// pinned to it, into exactly the rows 1..N the writer had committed by the hold: none
// torn, none missing in between, none from after it.
func TestABackupTakenWhileTheDemoWritesRestoresToAPrefixOfTheWrites(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	for _, mode := range []string{"checkpoint", "pause"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, stack: uniqueName("demo-")})
			e.consistency(mode)
			e.up()
			e.startWorker()
			w := e.writeContinuously()
			require.Eventually(t, func() bool { return w.committed.Load() >= 50 }, time.Minute, 10*time.Millisecond, "the writer commits")

			before := w.committed.Load()
			code, out, errOut := e.rewind("backup", "--stack", e.stack, "--wait", "--as", "carol")
			after := w.committed.Load()
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			require.Contains(t, out, "consistency: "+mode+"; ")
			require.Regexp(t, `size \d+ bytes, sha256 [0-9a-f]{64}`, out)
			name := backupName.FindString(out)
			require.NotEmpty(t, name, out)
			require.FileExists(t, e.backups+"/"+name)
			require.Equal(t, fileSHA256(t, e.backups+"/"+name), strings.Fields(readFile(t, e.backups+"/"+strings.TrimSuffix(name, ".tar.gz")+".sha256"))[0])
			bound := w.sentBefore(heldAt(t, c, api.BackupWorkflowID(e.stack), mode))
			recordHistory(t, c, api.BackupWorkflowID(e.stack), "backup/"+mode+".json")
			require.Eventually(t, func() bool { return w.committed.Load() > after+20 }, time.Minute, 10*time.Millisecond, "writes go on after the backup")
			written := w.halt(t)

			code, out, errOut = e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "restore the backup taken while writing",
				"--backup", name, "--as", "alice", "--wait")
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)

			count, least, most, distinct := e.seqRows(t)
			t.Logf("%s: committed %d before the backup, %d sent before the hold, %d when it returned, %d in all; restored %d", mode, before, bound, after, written, count)
			require.GreaterOrEqual(t, count, before, "every row committed before the backup began is back")
			require.LessOrEqual(t, count, bound, "no row sent after the hold was in place is back")
			if mode == "checkpoint" {
				require.Less(t, bound, after, "the database took writes in checkpoint mode, so the bound proves something")
			}
			if count > 0 {
				require.Equal(t, []int64{1, count, count}, []int64{least, most, distinct}, "the rows are exactly 1..N")
			}
			rows, err := e.rowCount()
			require.NoError(t, err)
			require.Equal(t, float64(500+count), rows, "the seeded rows are back too")
		})
	}
}

// The hold is released after the worker is killed mid-copy: a worker started later
// finishes the copy and lets the database go.
func TestTheHoldIsReleasedAfterTheWorkerIsKilledMidCopy(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	for _, mode := range []string{"checkpoint", "pause"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), transferBatch: transferBatch})
			e.consistency(mode)
			e.up()
			require.NoError(t, demostack.Pad(context.Background(), s.engine, e.project, padFiles, 1<<20))
			db, err := demostack.DatabaseContainer(context.Background(), s.engine, e.project)
			require.NoError(t, err)
			held := func() bool {
				if mode == "pause" {
					info, err := s.engine.ContainerInspect(context.Background(), db, client.ContainerInspectOptions{})
					require.NoError(t, err)
					return info.Container.State.Paused
				}
				_, err := s.engine.ContainerStatPath(context.Background(), db, client.ContainerStatPathOptions{Path: "/var/lib/questdb/db/checkpoint"})
				return err == nil
			}
			require.False(t, held(), "nothing is held before the backup")

			doomed := e.startWorker("REWIND_CRASH_AT=during:snapshot@3MiB")
			code, out, errOut := e.rewind("backup", "--stack", e.stack, "--as", "carol")
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			doomed.crashed(t)
			require.True(t, held(), "the worker died mid-copy, with the database held")

			e.startWorker()
			var res api.BackupResult
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			require.NoError(t, c.GetWorkflow(ctx, api.BackupWorkflowID(e.stack), "").Get(ctx, &res))
			require.False(t, held(), "the hold is released")
			require.True(t, res.Released, res.Release)
			require.Equal(t, mode, res.Mode)
			require.Positive(t, res.Held)
			require.Len(t, res.Backups, 1)
			require.Equal(t, res.Backups[0].SHA256, fileSHA256(t, res.Backups[0].Location))
			entries, err := os.ReadDir(e.backups)
			require.NoError(t, err)
			for _, f := range entries {
				require.False(t, strings.HasPrefix(f.Name(), ".rewind-partial-"), "no partial is left: %s", f.Name())
			}
			require.NoError(t, demostack.Seed(context.Background(), e.dbURL(), 3), "the database takes writes again")
		})
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
