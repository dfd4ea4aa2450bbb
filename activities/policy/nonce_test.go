package policy

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/storage/s3test"
)

func TestANonceAdmitsOneRunAndItsRetries(t *testing.T) {
	s3test.UseCredentials(t)
	srv := s3test.Start(t, "evidence")
	stores := map[string]config.Evidence{
		"folder": {Dir: t.TempDir()},
		"s3":     {S3: config.S3{Bucket: "evidence", Prefix: "rewind/", Endpoint: srv.URL, UsePathStyle: true, Region: "us-east-1"}},
	}
	for name, evidence := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// Two workers of one namespace, each with its own Activities, share the store.
			first := &Activities{Config: &config.Config{Evidence: evidence}}
			second := &Activities{Config: &config.Config{Evidence: evidence}}
			claim := NonceClaim{Nonce: "0123456789abcdef0123456789abcdef", WorkflowID: "rewind-prod", RunID: "run-1", Person: "alice"}

			require.NoError(t, first.ClaimNonce(ctx, claim))
			require.NoError(t, second.ClaimNonce(ctx, claim), "a retry of the same run, on any worker, is admitted again")

			for _, other := range []NonceClaim{
				{Nonce: claim.Nonce, WorkflowID: "rewind-prod", RunID: "run-2", Person: "alice"},
				{Nonce: claim.Nonce, WorkflowID: "rewind-staging", RunID: "run-1", Person: "alice"},
			} {
				err := second.ClaimNonce(ctx, other)
				var appErr *temporal.ApplicationError
				require.True(t, errors.As(err, &appErr), "%v", err)
				require.Equal(t, failure.NonceUsed, appErr.Type())
				require.True(t, appErr.NonRetryable())
				require.ErrorContains(t, err, "this signed start was already used by rewind-prod run run-1 at ")
			}

			other := claim
			other.Nonce, other.RunID = "fedcba9876543210fedcba9876543210", "run-2"
			require.NoError(t, second.ClaimNonce(ctx, other), "another nonce is free")

			store, err := storage.Open(ctx, evidence.Location())
			require.NoError(t, err)
			claims, err := store.List(ctx, "nonces/")
			require.NoError(t, err)
			require.Len(t, claims, 2, "one record per nonce")
		})
	}
}

func TestANonceThatIsNotHexIsRefusedBeforeTheStore(t *testing.T) {
	dir := t.TempDir()
	a := &Activities{Config: &config.Config{Evidence: config.Evidence{Dir: dir}}}
	for _, nonce := range []string{"", "../../etc/passwd-0123456789abcdef01234", "0123456789ABCDEF0123456789ABCDEF"} {
		err := a.ClaimNonce(context.Background(), NonceClaim{Nonce: nonce, WorkflowID: "rewind-prod", RunID: "run-1"})
		require.ErrorContains(t, err, "want 32 to 64 lowercase hex characters")
	}
	require.NoDirExists(t, dir+"/nonces")
}
