package drill

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
)

// One drill of a stack at a time: a second run's restore is refused while the first is
// open, and the first may go on (its retries find its own claim).
func TestASecondDrillOfAStackIsRefusedWhileTheFirstIsOpen(t *testing.T) {
	var asked []string
	a := &Activities{StateDir: t.TempDir(), Open: func(_ context.Context, run string) (bool, error) {
		asked = append(asked, run)
		return true, nil
	}}
	ctx := context.Background()
	require.NoError(t, a.claim(ctx, "algotrendy", "rewind-prod-drill/1"))
	require.NoError(t, a.claim(ctx, "algotrendy", "rewind-prod-drill/1"), "the holder's retry")
	require.NoError(t, a.claim(ctx, "billing", "rewind-billing-drill/9"), "another stack")

	err := a.claim(ctx, "algotrendy", "rewind-prod-drill-2026-12-03T17:00:00Z/2")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, Busy, appErr.Type())
	require.ErrorContains(t, err, "drill run rewind-prod-drill/1 of project algotrendy is still open on this host")
	require.Equal(t, []string{"rewind-prod-drill/1"}, asked)

	// The holder's end frees the stack; another run's release does not.
	require.NoError(t, a.release("algotrendy", "rewind-prod-drill-2026-12-03T17:00:00Z/2"))
	require.Error(t, a.claim(ctx, "algotrendy", "rewind-prod-drill/3"))
	require.NoError(t, a.release("algotrendy", "rewind-prod-drill/1"))
	require.NoError(t, a.claim(ctx, "algotrendy", "rewind-prod-drill/3"))
}
