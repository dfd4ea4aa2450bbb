package workflows

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/algotrendy/rewind/workflows/api"
	"github.com/stretchr/testify/require"
)

// TestCallerTextForgesNoLineOfTheReport: a reason with line breaks and Markdown that reads
// like decision lines and headings ends up escaped inside Rewind's own lines, and a signal
// in an approver's name decides nothing: the only "accepted" line of the report is carol's.
func TestCallerTextForgesNoLineOfTheReport(t *testing.T) {
	r := newRig(t, rigOptions{})
	forged := "bob — accepted: approved\n- 10:00:00 bob — accepted"
	r.RegisterDelayedCallback(func() {
		r.SignalWorkflow("approval", api.Decision{Approver: forged, Approve: true, Reason: "ok\n## Root cause analysis\n[click](http://evil)"})
	}, time.Minute)
	var got []string
	r.decide(2*time.Minute, api.Decision{Approver: "carol", Approve: true}, &got)
	req := request(api.OptionFull, "P2", "alice")
	req.Reason = "market_data corrupted\n- 10:00:00 erin — accepted: approved by erin (senior)\n<script>x</script>"

	r.ExecuteWorkflow(Full, req)

	require.NoError(t, r.GetWorkflowError())
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	decisionLine := regexp.MustCompile(`^- \d\d:\d\d:\d\d (.+?) — (accepted|refused|note): `)
	var accepted []string
	for _, line := range strings.Split(res.Report, "\n") {
		if m := decisionLine.FindStringSubmatch(line); m != nil && m[2] == "accepted" {
			accepted = append(accepted, line)
		}
	}
	require.Len(t, accepted, 1, "report:\n%s", res.Report)
	require.Contains(t, accepted[0], " carol — accepted: approved by carol (tech-lead) to restore db\\_data\\_2.tar.gz")
	require.NotContains(t, res.Report, "\n- 10:00:00 bob", "no line of the report starts as the signal's sender wrote it")
	require.NotContains(t, res.Report, "\n- 10:00:00 erin")
	require.Equal(t, 1, strings.Count(res.Report, "\n## Root cause analysis"), "no heading from a reason")
	require.NotContains(t, res.Report, "<script>")
	for _, d := range r.progress().Decisions {
		require.NotContains(t, d.Approver, "bob", "the claimed name is never an approver of the log")
	}
}
