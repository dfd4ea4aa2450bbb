package probe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChecksPassAndFailOnWhatTheRunbookExpects(t *testing.T) {
	rows := 500
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			fmt.Fprint(w, "Healthy")
		case "/sick":
			http.Error(w, "Unhealthy: db", http.StatusServiceUnavailable)
		case "/exec":
			if rows < 0 {
				http.Error(w, `{"error":"file is not a database"}`, http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, `{"query":%q,"dataset":[[%d]],"count":1}`, r.URL.Query().Get("query"), rows)
		case "/api/market-data/binance/btcusdt":
			fmt.Fprint(w, `[{"price":1}]`)
		case "/empty":
			fmt.Fprint(w, `[]`)
		}
	}))
	defer srv.Close()
	a := &Activities{}
	ctx := context.Background()
	for _, tc := range []struct {
		check HTTPCheck
		pass  bool
	}{
		{HTTPCheck{URL: srv.URL + "/health", Expect: "Healthy"}, true},
		{HTTPCheck{URL: srv.URL + "/sick", Expect: "Healthy"}, false},
		{HTTPCheck{URL: srv.URL + "/api/market-data/binance/btcusdt", JSONArray: true}, true},
		{HTTPCheck{URL: srv.URL + "/empty", JSONArray: true}, false},
		{HTTPCheck{URL: "http://127.0.0.1:1/health", Expect: "Healthy"}, false},
	} {
		r, err := a.CheckHTTP(ctx, tc.check)
		require.NoError(t, err)
		require.Equal(t, tc.pass, r.Passed, "%s: %s", tc.check.URL, r.Evidence)
	}
	for _, n := range []int{500, 0, -1} {
		rows = n
		r, err := a.CheckData(ctx, DataCheck{URL: srv.URL, Query: "SELECT COUNT(*) FROM market_data"})
		require.NoError(t, err)
		require.Equal(t, n > 0, r.Passed, r.Evidence)
	}
	rows = 500
	r, _ := a.CheckData(ctx, DataCheck{URL: srv.URL, Query: "SELECT COUNT(*) FROM market_data"})
	require.Equal(t, "SELECT COUNT(*) FROM market_data → 500", r.Evidence)
}

// TestDatabaseAnswersInItsOwnProtocol: an HTTP database answers a GET; a PostgreSQL URL is
// dialled over the wire, never fetched over HTTP (which fails every PostgreSQL stack with
// "unsupported protocol scheme").
func TestDatabaseAnswersInItsOwnProtocol(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	a := &Activities{}
	ctx := context.Background()
	up, err := a.CheckDatabase(ctx, DatabaseCheck{Name: "database answers", URL: srv.URL})
	require.NoError(t, err)
	require.True(t, up.Passed, up.Evidence)
	down, err := a.CheckDatabase(ctx, DatabaseCheck{Name: "database answers", URL: srv.URL + "/down"})
	require.NoError(t, err)
	require.False(t, down.Passed, down.Evidence)

	closed := "postgres://postgres:secret@127.0.0.1:1/postgres?sslmode=disable"
	for _, check := range []func() (Result, error){
		func() (Result, error) {
			return a.CheckDatabase(ctx, DatabaseCheck{Name: "database answers", URL: closed})
		},
		func() (Result, error) { return a.CheckHTTP(ctx, HTTPCheck{Name: "database answers", URL: closed}) },
	} {
		r, err := check()
		require.NoError(t, err)
		require.False(t, r.Passed)
		require.Contains(t, r.Evidence, "connect to PostgreSQL at postgres://postgres:xxxxx@127.0.0.1:1/postgres")
		require.NotContains(t, r.Evidence, "secret")
		require.NotContains(t, r.Evidence, "unsupported protocol scheme")
	}
}
