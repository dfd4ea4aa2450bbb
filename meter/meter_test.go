package meter_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/meter"
)

func TestWatchesSeeRunningTotalsPerKind(t *testing.T) {
	var seen []string
	var totals []int64
	ctx := meter.With(context.Background(), func(kind string, moved, total int64) {
		seen = append(seen, kind)
		totals = append(totals, total)
	})
	var second int64
	ctx = meter.With(ctx, func(_ string, moved, _ int64) { second += moved })

	var out bytes.Buffer
	_, err := io.Copy(meter.For(ctx, meter.Restore).Writer(&out), strings.NewReader("0123456789"))
	require.NoError(t, err)
	meter.For(ctx, meter.Upload).Add(4)
	meter.For(ctx, meter.Restore).Add(5)

	require.Equal(t, "0123456789", out.String())
	require.Equal(t, []string{meter.Restore, meter.Upload, meter.Restore}, seen)
	require.Equal(t, []int64{10, 4, 15}, totals)
	require.Equal(t, int64(19), second, "every watch sees every advance")
}

func TestNobodyWatchingCostsNothing(t *testing.T) {
	var out bytes.Buffer
	w := meter.For(context.Background(), meter.Snapshot).Writer(&out)
	require.Same(t, &out, w, "the writer is returned unwrapped")
	meter.For(context.Background(), meter.Snapshot).Add(3) // no panic, no effect
}
