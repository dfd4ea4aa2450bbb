package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/algotrendy/rewind/engine"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/storage"
)

// realEngine is the real Docker Engine, or nil with the reason it is not there.
type realEngine struct {
	c   *client.Client
	err error
}

var (
	engineOnce sync.Once
	shared     realEngine
)

// needEngine skips on a laptop without a Docker Engine; with REWIND_REQUIRE_DOCKER=1 (CI)
// a missing engine fails the test instead.
func needEngine(t *testing.T) *client.Client {
	t.Helper()
	engineOnce.Do(func() {
		ctx := context.Background()
		shared.c, shared.err = engine.New(ctx)
		if shared.err == nil {
			shared.err = demostack.BuildImages(ctx, shared.c)
		}
	})
	if shared.err != nil {
		if os.Getenv("REWIND_REQUIRE_DOCKER") == "1" {
			t.Fatalf("REWIND_REQUIRE_DOCKER=1 but the Docker Engine is not usable: %v", shared.err)
		}
		t.Skipf("no Docker Engine: %v", shared.err)
	}
	return shared.c
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newActivities returns the host's compose-project activities and their evidence store.
func newActivities(t *testing.T, c *client.Client) (*docker.Activities, *storage.Folder) {
	t.Helper()
	store, err := storage.NewFolder(t.TempDir())
	require.NoError(t, err)
	return &docker.Activities{Engine: c, Evidence: store}, store
}

// activityEnv runs activities as Temporal runs them: heartbeats, details, cancellation.
func activityEnv(a *docker.Activities) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env
}
