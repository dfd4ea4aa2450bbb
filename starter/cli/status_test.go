package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/algotrendy/rewind/checkpoint"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/workflows/api"
)

func TestHeartbeatProgressReadsRestoresAndTransfers(t *testing.T) {
	payloads := func(v any) *commonpb.Payloads {
		p, err := converter.GetDefaultDataConverter().ToPayloads(v)
		require.NoError(t, err)
		return p
	}
	text, done, total := heartbeatProgress(payloads(checkpoint.Transfer{BackupSize: 12 << 20, BackupRead: 3 << 20, Entries: 4}))
	require.Equal(t, "3.0 MiB of 12.0 MiB of the backup read", text)
	require.Equal(t, []int64{3 << 20, 12 << 20}, []int64{done, total})
	text, _, total = heartbeatProgress(payloads("8388608 bytes of volume v read"))
	require.Equal(t, "8388608 bytes of volume v read", text)
	require.Zero(t, total, "text carries no bar")
	text, _, _ = heartbeatProgress(nil)
	require.Empty(t, text, "a step that has not reported yet")
	text, _, _ = heartbeatProgress(payloads(checkpoint.Transfer{}))
	require.Empty(t, text, "a restore that has not read anything yet")
	text, _, _ = heartbeatProgress(payloads(checkpoint.Transfer{Entries: 120, Bytes: 3 << 20}))
	require.Equal(t, "120 entries, 3.0 MiB copied", text)
}

func TestDurationsBarsAndRatesReadAsPeopleSayThem(t *testing.T) {
	for d, want := range map[time.Duration]string{850 * time.Millisecond: "850ms", 12 * time.Second: "12s", 245 * time.Second: "4m05s", 62 * time.Minute: "1h02m"} {
		require.Equal(t, want, human(d))
	}
	require.Equal(t, "[█████░░░░░░░░░░░░░░░]  25%", bar(1, 4))
	require.Equal(t, "[████████████████████] 100%", bar(5, 4), "a transfer past its estimate is full, not over")

	start := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	restore := func(done int64) []RunningStep {
		return []RunningStep{{Activity: "RestoreVolume", Done: done, Total: 100 << 20, Progress: meter.MiB(done) + " of 100.0 MiB of the backup read"}}
	}
	r := measure(nil, restore(10<<20), start)
	r = measure(r, restore(30<<20), start.Add(2*time.Second))
	require.InDelta(t, float64(10<<20), r["RestoreVolume"].perSecond, 1)
	v := StatusView{WorkflowID: "rewind-prod", Status: "running", Running: restore(30 << 20),
		Progress: api.Progress{Steps: []api.Step{{Name: "Stop the stack", State: api.StateDone, Started: start, Finished: start.Add(4 * time.Second)}}}}
	lines := statusLines(v, r, start.Add(2*time.Second))
	require.Contains(t, lines, "└── ✔ Stop the stack [4s]")
	require.Contains(t, strings.Join(lines, "\n"), "RestoreVolume [██████░░░░░░░░░░░░░░]  30%: 30.0 MiB of 100.0 MiB of the backup read, 10.0 MiB/s, 7s left")
}

func TestWatchRedrawsInPlaceOnATerminalAndPrintsChangedLinesWhenPiped(t *testing.T) {
	now := time.Now()
	var tty bytes.Buffer
	s := &screen{w: &tty, tty: true, width: 80, printed: map[string]bool{}}
	s.show([]string{"rewind-prod  RUNNING", "└── ◌ Stop the stack"}, now)
	s.show([]string{"rewind-prod  RUNNING", "└── ◌ Stop the stack"}, now)
	first := tty.String()
	s.show([]string{"rewind-prod  COMPLETED", "└── ✔ Stop the stack"}, now)
	require.Equal(t, "rewind-prod  RUNNING\x1b[K\n└── ◌ Stop the stack\x1b[K\n", first, "an unchanged checklist is not drawn again")
	s.show([]string{"rewind-prod  COMPLETED"}, now)
	require.Equal(t, first+
		"\x1b[2A\r"+"rewind-prod  COMPLETED\x1b[K\n└── ✔ Stop the stack\x1b[K\n"+
		"\x1b[2A\r"+"rewind-prod  COMPLETED\x1b[K\n"+"\x1b[K\n\x1b[1A",
		tty.String(), "back up, each line written over and cleared to its end; a shorter checklist blanks the rest")

	var piped bytes.Buffer
	p := newScreen(&piped)
	require.False(t, p.tty)
	p.show([]string{"rewind-prod  RUNNING", "├── ✔ Stop the stack", "    ↻ RestoreVolume [░░░░░░░░░░░░░░░░░░░░]   1%"}, now)
	p.show([]string{"rewind-prod  RUNNING", "├── ✔ Stop the stack", "    ↻ RestoreVolume [█░░░░░░░░░░░░░░░░░░░]   5%"}, now.Add(time.Second))
	p.show([]string{"rewind-prod  COMPLETED", "├── ✔ Stop the stack"}, now.Add(2*time.Second))
	require.Equal(t, "rewind-prod  RUNNING\n├── ✔ Stop the stack\n    ↻ RestoreVolume [░░░░░░░░░░░░░░░░░░░░]   1%\nrewind-prod  COMPLETED\n", piped.String(),
		"each line once; progress at most every few seconds; no escape codes")
	require.Equal(t, "a long line th…", fit("a long line that does not fit", 16))
}
