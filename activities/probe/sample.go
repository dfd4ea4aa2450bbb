package probe

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/algotrendy/rewind/heartbeat"
)

// APISampleInput is one look at the stack from outside for a guard: its health
// endpoint, a few requests to its functional endpoint, and the data query.
type APISampleInput struct {
	HealthURL     string
	FunctionalURL string
	// Probes is how many requests go to FunctionalURL (default 5).
	Probes      int
	DatabaseURL string `json:",omitempty"`
	DataQuery   string `json:",omitempty"`
}

// APISample is what the guard saw.
type APISample struct {
	HealthOK     bool
	HealthDetail string `json:",omitempty"`
	// Requests went to the functional endpoint; Errors of them failed (5xx or no answer).
	Requests, Errors int
	// Latency is the median time of the functional endpoint's answers.
	Latency time.Duration
	// DataOK says the data query answered above zero; DataDetail what it answered.
	DataOK     bool
	DataDetail string `json:",omitempty"`
}

// ErrorRatio is the share of failed requests.
func (s APISample) ErrorRatio() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.Requests)
}

// SampleAPI takes one look at the stack as its users see it.
func (a *Activities) SampleAPI(ctx context.Context, in APISampleInput) (APISample, error) {
	var out APISample
	if in.HealthURL != "" {
		code, _, err := a.get(ctx, in.HealthURL)
		out.HealthOK = err == nil && code == http.StatusOK
		switch {
		case err != nil:
			out.HealthDetail = err.Error()
		case !out.HealthOK:
			out.HealthDetail = "answered " + strconv.Itoa(code)
		}
	}
	if in.FunctionalURL != "" {
		var took []time.Duration
		for i := range max(in.Probes, 1) {
			heartbeat.Beat(ctx, fmt.Sprintf("request %d to %s", i+1, in.FunctionalURL))
			began := time.Now()
			code, _, err := a.get(ctx, in.FunctionalURL)
			out.Requests++
			if err != nil || code >= 500 {
				out.Errors++
				continue
			}
			took = append(took, time.Since(began))
		}
		if len(took) > 0 {
			slices.Sort(took)
			out.Latency = took[len(took)/2]
		}
	}
	if in.DatabaseURL != "" && in.DataQuery != "" {
		heartbeat.Beat(ctx, "data query")
		res, err := a.CheckData(ctx, DataCheck{URL: in.DatabaseURL, Query: in.DataQuery})
		if err != nil {
			return out, err
		}
		out.DataOK, out.DataDetail = res.Passed, res.Evidence
	}
	return out, nil
}

func (s APISample) String() string {
	return fmt.Sprintf("health ok=%t, %d/%d requests failed, median %s, data ok=%t", s.HealthOK, s.Errors, s.Requests, s.Latency, s.DataOK)
}
