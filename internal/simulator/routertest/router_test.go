//go:build linux

package routertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/routermetrics"
	"github.com/sgltest/sgltest/internal/simtest"
	"github.com/sgltest/sgltest/internal/testenv"
)

// numWorkers is how many simulators sit behind the router.
const numWorkers = 3

// router is one router under test: the virtual environment that holds
// it, its launch module, and the flag that sets how often it polls worker
// loads. The subtests are named for the release installed.
type router struct {
	pkg, module   string
	loadPollFlags []string
}

var routers = []router{
	// sglang-router polls /get_load every --worker-startup-check-interval seconds.
	{testenv.SGLangRouter, launcher.RouterModuleSGLang, []string{"--worker-startup-check-interval", "1"}},
	// smg polls /v1/loads every --load-monitor-interval seconds.
	{testenv.SMG, launcher.RouterModuleSMG, []string{"--load-monitor-interval", "1"}},
}

func TestRouter_AcceptsSimulatorsAndRoutesEveryAPI(t *testing.T) {
	for _, rt := range routers {
		t.Run(rt.pkg, func(t *testing.T) {
			py := testenv.RouterPython(t, rt.pkg)
			info, err := launcher.InspectRouter(t.Context(), py, rt.module)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s", info.Package, info.Version)
			l := newLauncher(t)
			workers := simtest.Simulators(t, l, numWorkers, servedModel)
			r, err := l.StartRouter(t.Context(), launcher.RouterConfig{
				Name: "router", Python: py, Module: rt.module, Workers: workers, Policy: "power_of_two", ExtraArgs: rt.loadPollFlags,
			})
			if err != nil {
				t.Fatalf("starting %s %s: %v", info.Package, info.Version, err)
			}
			base := r.URL()

			sent := 0
			for _, c := range requestCases {
				for i := range 2 * numWorkers {
					t.Run(fmt.Sprintf("%s/%d", c.name, i), func(t *testing.T) { c.check(t, base) })
					sent++
				}
			}
			// Every request reached exactly one simulator, which finished it:
			// the simulators' request counters add up to what was sent plus
			// each one's startup warmup request.
			if got, want := sumCounter(t, workers, "sglang:num_requests_total"), float64(sent+len(workers)); got != want {
				t.Errorf("simulators finished %v requests, want %v (%d sent through the router + %d warmups)", got, want, sent, len(workers))
			}
			checkRouterMetrics(t, r.MetricsURL(), workers, sent)
			waitWorkersHealthy(t, base, workers)
			checkRouterSeesLoads(t, base, workers)
		})
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinary()
	os.Exit(code)
}

// workerList is the part of the router's GET /workers this test reads.
type workerList struct {
	Workers []struct {
		URL       string `json:"url"`
		IsHealthy bool   `json:"is_healthy"`
	} `json:"workers"`
	Total int `json:"total"`
}

// waitWorkersHealthy polls GET /workers until it lists exactly the given
// workers, all healthy (router-reference.md s9.1).
func waitWorkersHealthy(t *testing.T, base string, workers []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var list workerList
		status, body, err := getJSON(base+"/workers", &list)
		if err == nil && status == http.StatusOK && healthy(list, workers) {
			return
		}
		last = fmt.Sprintf("status %d, err %v, body %s", status, err, body)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("router never listed %v all healthy; last GET /workers: %s", workers, last)
}

func healthy(list workerList, workers []string) bool {
	if list.Total != len(workers) || len(list.Workers) != len(workers) {
		return false
	}
	seen := map[string]bool{}
	for _, w := range list.Workers {
		if !w.IsHealthy {
			return false
		}
		seen[w.URL] = true
	}
	for _, u := range workers {
		if !seen[u] {
			return false
		}
	}
	return true
}

func getJSON(url string, v any) (int, []byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, body, json.Unmarshal(body, v)
}

// servedModel is the simulators' --served-model-name; smg routes OpenAI
// requests only to workers serving the requested model.
const servedModel = "sim-model"

// outputTokens is what every request asks for; ignore_eos makes the count
// exact.
const outputTokens = 8

var requestCases = []struct {
	name  string
	check func(t *testing.T, base string)
}{
	{"generate", func(t *testing.T, base string) {
		var resp api.GenerateResponse
		postJSON(t, base+"/generate", generateBody(false), &resp)
		checkGenerate(t, resp)
	}},
	{"generate-stream", func(t *testing.T, base string) {
		events := postStream(t, base+"/generate", generateBody(true))
		var last api.GenerateResponse
		for _, e := range events {
			if err := json.Unmarshal(e, &last); err != nil {
				t.Fatalf("chunk %s: %v", e, err)
			}
		}
		checkGenerate(t, last)
	}},
	{"completions", func(t *testing.T, base string) {
		var resp api.CompletionResponse
		postJSON(t, base+"/v1/completions", completionBody(false), &resp)
		if len(resp.Choices) != 1 || resp.Choices[0].FinishReason == nil || *resp.Choices[0].FinishReason != "length" ||
			resp.Usage == nil || resp.Usage.CompletionTokens != outputTokens {
			t.Errorf("completion = %+v, want one choice finished by length and %d completion tokens", resp, outputTokens)
		}
	}},
	{"completions-stream", func(t *testing.T, base string) {
		events := postStream(t, base+"/v1/completions", completionBody(true))
		var usage api.CompletionResponse
		if err := json.Unmarshal(events[len(events)-1], &usage); err != nil || usage.Usage == nil ||
			usage.Usage.CompletionTokens != outputTokens || len(usage.Choices) != 0 {
			t.Errorf("last event %s: want a usage chunk with no choices and %d completion tokens (err %v)", events[len(events)-1], outputTokens, err)
		}
	}},
	{"chat", func(t *testing.T, base string) {
		var resp api.ChatCompletionResponse
		postJSON(t, base+"/v1/chat/completions", chatBody(false), &resp)
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == nil || *resp.Choices[0].Message.Content == "" ||
			resp.Usage.CompletionTokens != outputTokens {
			t.Errorf("chat completion = %+v, want one non-empty message and %d completion tokens", resp, outputTokens)
		}
	}},
	{"chat-stream", func(t *testing.T, base string) {
		events := postStream(t, base+"/v1/chat/completions", chatBody(true))
		chunks := make([]api.ChatCompletionChunk, len(events))
		for i, e := range events {
			if err := json.Unmarshal(e, &chunks[i]); err != nil {
				t.Fatalf("chunk %s: %v", e, err)
			}
		}
		n := len(chunks)
		if n < 4 || chunks[0].Choices[0].Delta.Role != "assistant" ||
			chunks[n-2].Choices[0].FinishReason == nil || chunks[n-1].Usage == nil ||
			chunks[n-1].Usage.CompletionTokens != outputTokens {
			t.Errorf("chat stream %s: want a role chunk, content, a finish chunk and a usage chunk with %d tokens",
				bytes.Join(events, []byte("\n")), outputTokens)
		}
	}},
}

func generateBody(stream bool) string {
	return fmt.Sprintf(`{"text":"The quick brown fox jumps over the lazy dog","sampling_params":{"max_new_tokens":%d,"temperature":0,"ignore_eos":true},"stream":%t}`,
		outputTokens, stream)
}

func completionBody(stream bool) string {
	return fmt.Sprintf(`{"model":"`+servedModel+`","prompt":"The quick brown fox","max_tokens":%d,"ignore_eos":true%s}`, outputTokens, streamFields(stream))
}

func chatBody(stream bool) string {
	return fmt.Sprintf(`{"model":"`+servedModel+`","messages":[{"role":"user","content":"Tell me about foxes."}],"max_tokens":%d,"ignore_eos":true%s}`,
		outputTokens, streamFields(stream))
}

// streamFields asks for a stream with a usage chunk; the router rejects
// stream_options on a request that does not stream.
func streamFields(stream bool) string {
	if !stream {
		return ""
	}
	return `,"stream":true,"stream_options":{"include_usage":true}`
}

func checkGenerate(t *testing.T, r api.GenerateResponse) {
	t.Helper()
	if r.MetaInfo.CompletionTokens != outputTokens || len(r.OutputIDs) != outputTokens ||
		r.MetaInfo.FinishReason == nil || r.MetaInfo.FinishReason.Type != api.FinishLength {
		t.Errorf("generate response %+v: want %d tokens finished by length", r, outputTokens)
	}
}

func postJSON(t *testing.T, url, body string, v any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: status %d, body %s", url, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("POST %s: %v in %s", url, err, data)
	}
}

// postStream sends a streamed request and returns its event payloads,
// failing unless the stream is a 200 event stream ending in [DONE] with no
// error event.
func postStream(t *testing.T, url, body string) [][]byte {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: status %d, type %q, body %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	var events [][]byte
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		payload, ok := api.EventPayload(sc.Bytes())
		if !ok {
			continue
		}
		if string(payload) == api.DonePayload {
			if len(events) == 0 {
				t.Fatalf("POST %s: [DONE] with no events", url)
			}
			return events
		}
		if bytes.Contains(payload, []byte(`"error"`)) {
			t.Fatalf("POST %s: error event %s", url, payload)
		}
		events = append(events, bytes.Clone(payload))
	}
	t.Fatalf("POST %s: stream ended without [DONE] (%v) after %d events", url, sc.Err(), len(events))
	return nil
}

// checkRouterMetrics scrapes the router's own Prometheus endpoint with
// internal/routermetrics and checks it against what was sent: every
// request routed once, answered 200 and timed; each worker's count equal to
// the requests its simulator counted (less its warmup); every worker
// healthy with its circuit closed.
func checkRouterMetrics(t *testing.T, url string, workers []string, sent int) {
	t.Helper()
	s, err := routermetrics.Scrape(t.Context(), http.DefaultClient, url, func() time.Duration { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != float64(sent) || s.DurationCount != float64(sent) || s.Retries != 0 || len(s.RequestErrors) != 0 {
		t.Errorf("router metrics: %v requests routed, %v timed, %v retries, errors %v; want %d, %d, 0, none",
			s.Requests, s.DurationCount, s.Retries, s.RequestErrors, sent, sent)
	}
	if s.UpstreamResponses["200"] != float64(sent) {
		t.Errorf("router metrics: upstream responses %v, want %d 200s", s.UpstreamResponses, sent)
	}
	for _, u := range workers {
		w, ok := s.Workers[u]
		if !ok {
			t.Errorf("router metrics: no figures for worker %s (have %v)", u, s.Workers)
			continue
		}
		if got, want := w.Requests, sumCounter(t, []string{u}, "sglang:num_requests_total")-1; got != want {
			t.Errorf("router metrics: worker %s got %v requests, its simulator counted %v", u, got, want)
		}
		if !w.Healthy || w.Circuit != routermetrics.CircuitClosed || w.Failures != 0 {
			t.Errorf("router metrics: worker %s healthy %v, circuit %v, %v failures; want healthy, closed, none", u, w.Healthy, w.Circuit, w.Failures)
		}
	}
}

// sumCounter adds a counter over the simulators' /metrics.
func sumCounter(t *testing.T, workers []string, name string) float64 {
	t.Helper()
	var sum float64
	for _, u := range workers {
		resp, err := http.Get(u + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s/metrics: %v", u, err)
		}
		f := families[name]
		if f == nil {
			t.Fatalf("%s/metrics has no %s", u, name)
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// checkRouterSeesLoads holds long requests open on the simulators and
// waits until the router's GET /get_loads fan-out reports a positive load
// for some worker: the router parsed the simulators' load reports, the
// figures power_of_two compares. An unparsable report reads as -1.
func checkRouterSeesLoads(t *testing.T, base string, workers []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range 2 * len(workers) {
		wg.Go(func() {
			body := `{"input_ids":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"sampling_params":{"max_new_tokens":20000,"ignore_eos":true},"stream":true}`
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/generate", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	// sglang-router 0.3.2 answers {"workers":[{"worker","load"}]} with the
	// summed num_tokens of /get_load (-1 when unparsable); smg 1.13.0
	// answers {"loads":[{"worker","num_used_tokens",...}]}, one entry per
	// worker and DP rank, from /v1/loads.
	type loads struct {
		Workers []struct {
			Worker string `json:"worker"`
			Load   int    `json:"load"`
		} `json:"workers"`
		Loads []struct {
			Worker        string `json:"worker"`
			NumUsedTokens int    `json:"num_used_tokens"`
		} `json:"loads"`
	}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var l loads
		status, body, err := getJSON(base+"/get_loads", &l)
		last = fmt.Sprintf("status %d, err %v, body %s", status, err, body)
		if err == nil && status == http.StatusOK {
			seen, parsed, busy := map[string]bool{}, true, false
			for _, w := range l.Workers {
				seen[w.Worker] = true
				parsed = parsed && w.Load >= 0
				busy = busy || w.Load > 0
			}
			for _, w := range l.Loads {
				seen[w.Worker] = true
				busy = busy || w.NumUsedTokens > 0
			}
			if len(seen) == len(workers) && parsed && busy {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("router never reported a positive load from the simulators; last GET /get_loads: %s", last)
}

// newLauncher returns a launcher whose processes are stopped when t ends.
func newLauncher(t *testing.T) *launcher.Launcher {
	t.Helper()
	l := launcher.New(t.TempDir(), nil)
	t.Cleanup(func() {
		if err := l.StopAll(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	return l
}
