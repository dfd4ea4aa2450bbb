package integration

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/devserver/embedded"
	"github.com/algotrendy/rewind/workflows/api"
)

func listAll() *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default"}
}

func TestDevserverRestartOnTheSameFileKeepsWorkflows(t *testing.T) {
	db := filepath.Join(t.TempDir(), "temporal.db")
	ctx := context.Background()

	srv, err := embedded.Start(ctx, embedded.Options{DBFile: db, UIPort: -1, LogLevel: "fatal"})
	require.NoError(t, err)
	c, err := sdkclient.Dial(sdkclient.Options{HostPort: srv.GRPCAddr()})
	require.NoError(t, err)
	run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{
		ID: api.WorkflowID("prod"), TaskQueue: "nobody-polls",
		TypedSearchAttributes: temporal.NewSearchAttributes(api.StackKey.ValueSet("prod"), api.PhaseKey.ValueSet("starting")),
	}, "Emergency", api.Request{Stack: "prod"})
	require.NoError(t, err)
	c.Close()
	srv.Stop()

	srv, err = embedded.Start(ctx, embedded.Options{DBFile: db, UIPort: -1, LogLevel: "fatal"})
	require.NoError(t, err)
	defer srv.Stop()
	c, err = sdkclient.Dial(sdkclient.Options{HostPort: srv.GRPCAddr()})
	require.NoError(t, err)
	defer c.Close()

	desc, err := c.DescribeWorkflowExecution(ctx, api.WorkflowID("prod"), "")
	require.NoError(t, err)
	require.Equal(t, run.GetRunID(), desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())
	require.Contains(t, desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields(), "RewindStack")

	list, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: `RewindStack = "prod"`})
	require.NoError(t, err)
	require.Len(t, list.GetExecutions(), 1, "the search attribute still filters after a restart")
}
