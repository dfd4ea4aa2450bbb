package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// tmux drives a program on a real terminal of a private tmux server.
type tmux struct {
	t      testing.TB
	socket string
}

func startTmux(t testing.TB, width, height int, command string) *tmux {
	t.Helper()
	_, err := exec.LookPath("tmux")
	require.NoError(t, err, "tmux drives rewind watch on a real terminal (apt-get install tmux)")
	m := &tmux{t: t, socket: uniqueName("rewind-test-")}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", m.socket, "kill-server").Run() })
	out, err := exec.Command("tmux", "-L", m.socket, "new-session", "-d", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), command).CombinedOutput()
	require.NoError(t, err, "tmux new-session: %s", out)
	return m
}

// screen is the pane's whole text, scrollback included.
func (m *tmux) screen() string {
	m.t.Helper()
	out, err := exec.Command("tmux", "-L", m.socket, "capture-pane", "-p", "-S", "-").CombinedOutput()
	require.NoError(m.t, err, "tmux capture-pane: %s", out)
	return string(out)
}

// TestWatchOnATerminal follows a full rollback whose staging restore is slowed down (it goes
// through the engine's archive API, behind a proxy that reads 2 MiB/s) with
// `rewind watch` twice: on a tmux terminal, where the checklist is redrawn in place and a
// progress bar moves, and piped, where each line comes once and no escape code appears.
func TestWatchOnATerminal(t *testing.T) {
	s := needDocker(t)
	srv, _ := startTemporal(t)
	direct := fmt.Sprintf("compose: {command: [env, DOCKER_HOST=%s, %s]}\n", s.engine.DaemonHost(), strings.Join(s.compose, ", "))
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, config: direct, heartbeat: 2 * time.Second, transferBatch: 1 << 20, archiveTransfer: true})
	e.up()
	// 32 files of 768 KiB: the restore moves in many batches, each reported.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range 32 {
		body := make([]byte, 768<<10)
		_, _ = rand.Read(body)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("ticks/%02d.bin", i), Mode: 0o644, Size: int64(len(body)), ModTime: time.Now()}))
		_, err := tw.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	db, err := demostack.DatabaseContainer(context.Background(), s.engine, e.project)
	require.NoError(t, err)
	_, err = s.engine.CopyToContainer(context.Background(), db, client.CopyToContainerOptions{DestinationPath: "/var/lib/questdb", Content: &buf})
	require.NoError(t, err)
	e.goodBackup()
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	// 2 MiB/s: the 24 MiB staging restore takes about twelve seconds.
	proxy := startEngineProxy(t, s.engine.DaemonHost(), &engineProxy{uploadBytesPerSecond: 2 << 20})
	proxy.armed.Store(true)
	e.startWorker("DOCKER_HOST=" + proxy.host())

	id := e.startFull()
	piped := exec.Command(filepath.Join(e.bin, "rewind"), "--config", e.config, "watch", id)
	var pipedOut bytes.Buffer
	piped.Stdout, piped.Stderr = &pipedOut, &pipedOut
	require.NoError(t, piped.Start())
	term := startTmux(t, 200, 60, fmt.Sprintf("%s --config %s watch %s; echo WATCH-EXIT=$?; sleep 600", filepath.Join(e.bin, "rewind"), e.config, id))

	bars := regexp.MustCompile(`↻ PrepareVolume \[[█░]+\]\s+(\d+)%`)
	seen := map[string]bool{}
	deadline := time.Now().Add(3 * time.Minute)
	var screen string
	for !strings.Contains(screen, "WATCH-EXIT=") {
		require.True(t, time.Now().Before(deadline), "rewind watch did not end; its screen:\n%s", screen)
		screen = term.screen()
		for _, m := range bars.FindAllStringSubmatch(screen, -1) {
			seen[m[1]] = true
		}
		time.Sleep(100 * time.Millisecond) // the pace of looking at the screen, not a wait for an event
	}
	require.NoError(t, piped.Wait(), "piped watch:\n%s", pipedOut.String())

	require.Contains(t, screen, "WATCH-EXIT=0", screen)
	require.Contains(t, screen, id+"  COMPLETED")
	require.Equal(t, 1, strings.Count(screen, "Stop the stack"), "the checklist is redrawn in place, not appended:\n%s", screen)
	require.Equal(t, 1, strings.Count(screen, id+"  "), "one header on the screen:\n%s", screen)
	require.GreaterOrEqual(t, len(seen), 2, "the restore's progress bar moved (percentages seen: %v)", seen)

	out := pipedOut.String()
	require.NotContains(t, out, "\x1b", "no escape codes when piped")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	once := map[string]int{}
	for _, l := range lines {
		once[l]++
		require.Equal(t, 1, once[l], "piped output prints each line once: %q\n%s", l, out)
	}
	require.Contains(t, out, "✔ Stop the stack")
	require.Contains(t, out, id+"  COMPLETED")
	_ = api.WorkflowID
}
