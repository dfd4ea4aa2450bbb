package cli

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/algotrendy/rewind/workflows"
)

// NewCmdDecide builds `rewind approve ID` (approve true) or `rewind reject ID`.
func NewCmdDecide(o *Options, approve bool) *cobra.Command {
	var d workflows.Decision
	var keyFile string
	verb := "reject"
	if approve {
		verb = "approve"
	}
	cmd := &cobra.Command{
		Use:   verb + " ID|STACK",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a rollback waiting for approval",
		Long: `Send a decision to a rollback waiting at its approval gate, then confirm whether the
workflow accepted it. Approvers with a public_key in rewind.yaml must sign with --key.`,
		Example: fmt.Sprintf("  rewind %s rewind-prod --as bob --reason \"checked the backup\" [--key ~/.rewind/bob.key]", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := workflowID(args[0])
			d.Approve = approve
			if d.Approver == "" {
				d.Approver = os.Getenv("USER")
			}
			if !approve && strings.TrimSpace(d.Reason) == "" {
				return badInputf("reject needs --reason: the incident record says why")
			}
			cfg, err := o.Config()
			if err != nil {
				return err
			}
			if _, ok := cfg.Approver(d.Approver); !ok {
				return badInputf("%s is not an approver in rewind.yaml; add them under approvers: or pass --as NAME", d.Approver)
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			desc, err := c.DescribeWorkflowExecution(cmd.Context(), id, "")
			if err != nil {
				return notFound(id, err)
			}
			runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
			if keyFile != "" {
				key, err := readPrivateKey(keyFile)
				if err != nil {
					return badInput{err}
				}
				d.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, workflows.SignedText(id, runID, approve)))
			}
			before, _ := o.decisions(cmd, id, runID)
			if err := c.SignalWorkflow(cmd.Context(), id, runID, workflows.ApprovalSignal, d); err != nil {
				return notFound(id, err)
			}
			// The gate records every signal; wait for ours to show up in the decision log.
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				after, err := o.decisions(cmd, id, runID)
				if err == nil && len(after) > len(before) {
					last := after[len(after)-1]
					if !last.Accepted {
						return badInputf("%s refused the decision: %s", id, last.Reason)
					}
					fmt.Fprintf(o.Out, "%s accepted: %s\n", id, last.Reason)
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(200 * time.Millisecond):
				}
			}
			fmt.Fprintf(o.Out, "sent %s of %s as %s; the rollback has not recorded it yet (is a worker running?)\n", verb, id, d.Approver)
			return nil
		},
	}
	cmd.Flags().StringVar(&d.Approver, "as", "", "approver's name as in rewind.yaml (default: $USER)")
	cmd.Flags().StringVar(&d.Reason, "reason", "", "why, for the decision log")
	cmd.Flags().StringVar(&keyFile, "key", "", "file with the approver's ed25519 private key (base64), to sign the decision")
	return cmd
}

func (o *Options) decisions(cmd *cobra.Command, id, runID string) ([]workflows.DecisionRecord, error) {
	resp, err := o.client.QueryWorkflow(cmd.Context(), id, runID, workflows.ProgressQuery)
	if err != nil {
		return nil, err
	}
	var p workflows.Progress
	if err := resp.Get(&p); err != nil {
		return nil, err
	}
	return p.Decisions, nil
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read --key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || (len(raw) != ed25519.PrivateKeySize && len(raw) != ed25519.SeedSize) {
		return nil, fmt.Errorf("--key %s: want a base64 ed25519 private key (64 bytes) or seed (32 bytes)", path)
	}
	if len(raw) == ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(raw), nil
	}
	return ed25519.PrivateKey(raw), nil
}
