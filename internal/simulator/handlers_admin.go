package simulator

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// authorize requires "Authorization: Bearer <APIKey>" when an API key is
// set, as SGLang's auth middleware does: the scheme word is matched
// case-insensitively, and paths under /health and /metrics and every
// OPTIONS request are exempt. A failure is 401 {"error":"Unauthorized"}.
func (s *Server) authorize(next http.Handler) http.Handler {
	if s.cfg.APIKey == "" {
		return next
	}
	want := []byte(s.cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions || strings.HasPrefix(r.URL.Path, "/health") || strings.HasPrefix(r.URL.Path, "/metrics") {
			next.ServeHTTP(w, r)
			return
		}
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), want) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handleFlushCache answers as SGLang's /flush_cache does: when the server
// is idle it empties the radix cache and answers 200, otherwise 400. Each
// driver flushes its rank's cache, between steps, as the engine's one owner;
// on a DP server every rank gets the flush and it succeeds only if every
// rank's did.
func (s *Server) handleFlushCache(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	flushed := !slices.ContainsFunc(s.ranks, func(d *driver) bool { return !d.idle() })
	if flushed {
		res := make(chan bool, len(s.ranks))
		for _, d := range s.ranks {
			d.send(command{flush: res})
		}
		for range s.ranks {
			select {
			case ok := <-res:
				flushed = flushed && ok
			case <-r.Context().Done():
				return
			}
		}
	}
	if !flushed {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("Flush cache failed. When there are running or waiting requests, the cache cannot be flushed.\n"))
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("Cache flushed.\nPlease check backend logs for more details. (When there are running or waiting requests, the operation will not be performed.)\n"))
}

// flushCache empties the radix cache if nothing is queued or running; it
// runs on the driver goroutine. When idle no cached token is pinned by a
// request, so evicting the whole tree frees all of it.
func (d *driver) flushCache() bool {
	d.mu.Lock()
	live := len(d.streams)
	d.mu.Unlock()
	if u := d.engine.Usage(); live > 0 || u.Running > 0 || u.Queued > 0 {
		return false
	}
	if t := d.engine.tree; t != nil {
		t.evict(t.size)
	}
	d.mu.Lock()
	d.usage = d.engine.Usage()
	d.mu.Unlock()
	return true
}

// loadSections are the values /v1/loads' include parameter takes.
var loadSections = []string{"core", "memory", "spec", "lora", "disagg", "queues", "all"}

// handleLoads serves GET /v1/loads (sglang-reference.md s2.5) from the
// engine state after the last step.
func (s *Server) handleLoads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	include := map[string]bool{"all": true}
	if v := q.Get("include"); v != "" {
		include = map[string]bool{}
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if !slices.Contains(loadSections, part) {
				writeJSON(w, http.StatusBadRequest, api.ErrorResponse{Object: "error", Type: "Bad Request", Code: http.StatusBadRequest,
					Message: fmt.Sprintf("Invalid include value %q: expected a comma list of %s", part, strings.Join(loadSections, ", "))})
				return
			}
			include[part] = true
		}
	}
	ranks := make([]int, len(s.ranks))
	for r := range ranks {
		ranks[r] = r
	}
	if v := q.Get("dp_rank"); v != "" {
		rank, err := strconv.Atoi(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, api.ErrorResponse{Object: "error", Type: "Bad Request", Code: http.StatusBadRequest,
				Message: fmt.Sprintf("dp_rank must be an integer, got %q", v)})
			return
		}
		ranks = slices.DeleteFunc(ranks, func(r int) bool { return r != rank }) // no such rank: no entry
	}
	// Python's datetime.isoformat() of an aware UTC time.
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00")
	loads := make([]api.Load, 0, len(ranks))
	for _, rank := range ranks {
		l := s.load(rank, now)
		if include["all"] || include["memory"] {
			l.Memory = &api.LoadMemory{WeightGB: s.weightGB(), KVCacheGB: s.kvCacheGB(), TokenCapacity: s.lim.MaxTotalTokens}
		}
		if include["all"] || include["queues"] {
			l.Queues = &api.LoadQueues{Waiting: l.NumWaitingReqs}
		}
		loads = append(loads, l)
	}
	switch format := q.Get("format"); format {
	case "", "json":
		writeJSON(w, http.StatusOK, api.Loads{Timestamp: now, Version: version, Loads: loads})
	case "prometheus":
		var b bytes.Buffer
		for _, l := range loads {
			writeLoadGauges(&b, l)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(b.Bytes())
	default:
		writeJSON(w, http.StatusBadRequest, api.ErrorResponse{Object: "error", Type: "Bad Request", Code: http.StatusBadRequest,
			Message: fmt.Sprintf("Invalid format %q: expected json or prometheus", format)})
	}
}

// load is one DP rank's core load figures. SGLang rounds token_usage and
// cache_hit_rate to 4 decimals and gen_throughput to 2; utilization is
// always 0 in SGLang.
func (s *Server) load(rank int, timestamp string) api.Load {
	u, m, pending := s.ranks[rank].loads()
	return api.Load{
		Timestamp:                timestamp,
		DPRank:                   rank,
		NumRunningReqs:           u.Running,
		NumWaitingReqs:           u.Queued,
		NumWaitingUncachedTokens: pending,
		NumUsedTokens:            u.UsedTokens,
		NumTotalTokens:           u.UsedTokens + pending,
		MaxTotalNumTokens:        s.lim.MaxTotalTokens,
		MaxRunningRequests:       s.lim.MaxRunningRequests,
		TokenUsage:               roundTo(float64(u.UsedTokens)/float64(s.lim.MaxTotalTokens), 4),
		GenThroughput:            roundTo(m.GenThroughput, 2),
		CacheHitRate:             roundTo(m.CacheHitRate, 4),
	}
}

func writeLoadGauges(b *bytes.Buffer, l api.Load) {
	for _, g := range []struct {
		name string
		v    float64
	}{
		{"num_running_reqs", float64(l.NumRunningReqs)},
		{"num_waiting_reqs", float64(l.NumWaitingReqs)},
		{"num_waiting_uncached_tokens", float64(l.NumWaitingUncachedTokens)},
		{"num_used_tokens", float64(l.NumUsedTokens)},
		{"num_total_tokens", float64(l.NumTotalTokens)},
		{"max_total_num_tokens", float64(l.MaxTotalNumTokens)},
		{"max_running_requests", float64(l.MaxRunningRequests)},
		{"token_usage", l.TokenUsage},
		{"gen_throughput", l.GenThroughput},
		{"cache_hit_rate", l.CacheHitRate},
		{"utilization", l.Utilization},
	} {
		fmt.Fprintf(b, "# TYPE sglang_%s gauge\nsglang_%s{dp_rank=\"%d\"} %s\n", g.name, g.name, l.DPRank, pyFloat(g.v))
	}
}

// handleGetLoad serves the deprecated GET /get_load: one element per DP
// rank, whose num_tokens the sglang-router power_of_two policy sums.
func (s *Server) handleGetLoad(w http.ResponseWriter, _ *http.Request) {
	out := make([]api.LegacyLoad, len(s.ranks))
	for r := range s.ranks {
		l := s.load(r, "")
		out[r] = api.LegacyLoad{
			DPRank:           r,
			NumReqs:          l.NumRunningReqs + l.NumWaitingReqs,
			NumWaitingReqs:   l.NumWaitingReqs,
			NumTokens:        l.NumTotalTokens,
			NumPendingTokens: l.NumTotalTokens - l.NumUsedTokens,
			TsTic:            s.clock.Now().Seconds(),
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) weightGB() float64 { return round2(s.prof.StepTime.WeightBytes.Value / (1 << 30)) }

func (s *Server) kvCacheGB() float64 {
	return round2(float64(s.lim.MaxTotalTokens) * s.prof.StepTime.KVBytesPerToken.Value / (1 << 30))
}

func roundTo(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}
