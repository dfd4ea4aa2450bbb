package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
)

// NonceClaim is a signed start's nonce and the run that would be admitted by it.
type NonceClaim struct {
	Nonce      string
	WorkflowID string
	RunID      string
	Person     string
}

// nonceRecord is what a claim leaves in the store: who used the statement, and when.
type nonceRecord struct {
	Nonce      string    `json:"nonce"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Person     string    `json:"person"`
	ClaimedAt  time.Time `json:"claimed_at"`
}

// ClaimNonce admits a signed start once: it creates nonces/<nonce>.json in the store
// every worker shares (the evidence store), naming the run. A retry of the same run finds
// its own record and succeeds; any other run is refused, for a signed start is public in
// the history of the run it started.
func (a *Activities) ClaimNonce(ctx context.Context, in NonceClaim) error {
	if !isHex(in.Nonce, 32, 64) || in.WorkflowID == "" || in.RunID == "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("claim nonce %q for %s run %s: want 32 to 64 lowercase hex characters and a run", in.Nonce, in.WorkflowID, in.RunID), failure.BadInput, nil)
	}
	store, err := a.nonceStore(ctx)
	if err != nil {
		return err
	}
	name := "nonces/" + in.Nonce + ".json"
	body, err := json.Marshal(nonceRecord{Nonce: in.Nonce, WorkflowID: in.WorkflowID, RunID: in.RunID, Person: in.Person, ClaimedAt: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("encode nonce claim: %w", err)
	}
	err = store.Create(ctx, name, body)
	if err == nil || !errors.Is(err, storage.ErrExists) {
		return err
	}
	rc, err := store.Open(ctx, name, 0)
	if err != nil {
		return fmt.Errorf("read the claim of nonce %s: %w", in.Nonce, err)
	}
	defer rc.Close()
	held, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return fmt.Errorf("read the claim of nonce %s: %w", in.Nonce, err)
	}
	var rec nonceRecord
	if err := json.Unmarshal(held, &rec); err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the claim of nonce %s in %s is unreadable (%v): this signed start cannot be admitted; sign a new one", in.Nonce, store.Location(name), err), failure.NonceUsed, nil)
	}
	if rec.WorkflowID == in.WorkflowID && rec.RunID == in.RunID {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("this signed start was already used by %s run %s at %s: a signed start starts one rollback; sign a new one (rewind start signs each start afresh)",
		rec.WorkflowID, rec.RunID, rec.ClaimedAt.Format(time.RFC3339)), failure.NonceUsed, nil)
}

// nonceStore is Nonces, or the evidence store of the worker's configuration.
func (a *Activities) nonceStore(ctx context.Context) (storage.Store, error) {
	if a.Nonces != nil {
		return a.Nonces, nil
	}
	loc := a.Config.Evidence.Location()
	s, err := storage.Open(ctx, loc)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("open the evidence store %s, where start nonces are claimed: %v", loc, err), failure.BadInput, err)
	}
	return s, nil
}

func isHex(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
