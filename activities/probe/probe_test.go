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
