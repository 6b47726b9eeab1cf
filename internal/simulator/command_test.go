package simulator

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMain_RejectsWhatItCannotHonour(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown SGLang flag", []string{"--model-path", "m", "--trust-remote-code"}, "--trust-remote-code is not supported"},
		{"unknown flag with a value", []string{"--model-path", "m", "--pp-size=2"}, "--pp-size is not supported"},
		{"zero dp", []string{"--model-path", "m", "--dp-size", "0"}, "--dp-size must be at least 1"},
		{"load balance method SGLang does not have", []string{"--model-path", "m", "--dp-size", "4", "--load-balance-method", "shortest_queue"},
			`"shortest_queue": expected one of auto, round_robin, follow_bootstrap_room, total_requests, total_tokens`},
		// SGLang starts, then its DP controller asserts on the warmup
		// request, which has no bootstrap room, and the server exits.
		{"follow_bootstrap_room outside PD", []string{"--model-path", "m", "--port", "0", "--dp-size", "2", "--load-balance-method", "follow_bootstrap_room"},
			"req.bootstrap_room should not be None"},
		{"no model", []string{"--port", "0"}, "--model-path is required"},
		{"positional model", []string{"meta-llama/Llama-3.1-8B"}, "unexpected argument"},
		{"unknown profile", []string{"--model-path", "m", "--sim-profile", "nope"}, "llama-3.1-8b-a100"},
		{"unsimulated policy", []string{"--model-path", "m", "--port", "0", "--schedule-policy", "lof"}, `"lof" is not simulated`},
		{"tp the model cannot be split into", []string{"--model-path", "m", "--port", "0", "--tp-size", "3"}, "does not divide the model's 32 attention heads"},
		{"zero tp", []string{"--model-path", "m", "--tp", "0"}, "--tp must be at least 1"},
		{"bad suffix", []string{"--model-path", "m", "--max-total-tokens", "12q"}, "max-total-tokens"},
		{"zero max running requests", []string{"--model-path", "m", "--max-running-requests", "0"}, "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A config Main wrongly accepts serves until ctx ends, then
			// returns nil, so the test fails instead of hanging.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := Main(ctx, tt.args, &bytes.Buffer{}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Main(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestParseFlags_TakesSGLangSpellings(t *testing.T) {
	cfg, profile, err := parseFlags([]string{
		"--model", "meta-llama/Llama-3.1-8B", "--tensor-parallel-size", "1", "--port=31000",
		"--max-total-tokens", "32Ki", "--context-length", "8k", "--chunked-prefill-size", "-1",
		"--enable-metrics", "--sim-profile", "llama-3.1-8b-a100", "--sim-startup-delay", "2s",
		"--disable-overlap-schedule", "--cuda-graph-max-bs", "160", "--disable-cuda-graph",
		"--attention-backend", "triton", "--sim-health-poll", "5ms",
		"--data-parallel-size", "2", "--load-balance-method", "total_tokens",
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ModelPath: "meta-llama/Llama-3.1-8B", Host: "127.0.0.1", Port: 31000, TPSize: 1,
		MaxTotalTokens: 32768, ContextLength: 8000, ChunkedPrefillSize: -1, SchedulePolicy: "fcfs",
		StreamInterval: 1, EnableMetrics: true, StartupDelay: 2 * time.Second,
		DisableOverlapSchedule: true, CUDAGraphMaxBS: 160, DisableCUDAGraph: true,
		AttentionBackend: "triton", HealthPoll: 5 * time.Millisecond,
		DPSize: 2, LoadBalanceMethod: "total_tokens",
	}
	if cfg != want || profile != "llama-3.1-8b-a100" {
		t.Errorf("got %+v %q\nwant %+v", cfg, profile, want)
	}
	if cfg, _, _ := parseFlags([]string{"--model-path", "m", "--chunked-prefill-size", "0"}, &bytes.Buffer{}); cfg.ChunkedPrefillSize != -1 {
		t.Errorf("--chunked-prefill-size 0 gave %d, want -1 (disabled)", cfg.ChunkedPrefillSize)
	}
}

func TestMain_HelpListsFlagsAndReturnsNil(t *testing.T) {
	var out bytes.Buffer
	if err := Main(context.Background(), []string{"-h"}, &out, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model-path", "sim-profile", "enable-metrics"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("help lacks %s:\n%s", f, out.String())
		}
	}
}

// recordHandler passes log records to a channel.
type recordHandler struct{ ch chan slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Clone():
	default:
	}
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

func TestMain_ServesUntilCancelled(t *testing.T) {
	logs := make(chan slog.Record, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--model-path", "m", "--port", "0", "--sim-profile", fastProfile}, &bytes.Buffer{},
			slog.New(recordHandler{logs}))
	}()

	var addr string
	for addr == "" {
		select {
		case r := <-logs:
			if r.Message == "listening" {
				r.Attrs(func(a slog.Attr) bool {
					if a.Key == "addr" {
						addr = a.Value.String()
					}
					return true
				})
			}
		case err := <-done:
			t.Fatalf("Main returned before listening: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no listening log")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never healthy: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Main = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
}
