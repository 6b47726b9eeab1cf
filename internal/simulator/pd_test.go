package simulator

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/api"
)

// pdProfile is the fast test profile with a KV link of the given
// bandwidth per GPU and latency.
func pdProfile(t *testing.T, bandwidth float64, latency time.Duration) Profile {
	t.Helper()
	prof := mustProfile(t, fastProfile)
	prof.KVTransfer = &KVTransferParams{
		BandwidthPerGPU: Param{Value: bandwidth, Provenance: "test value"},
		Latency:         Param{Value: latency.Seconds(), Provenance: "test value"},
	}
	return prof
}

// pdPair is a prefill server with its bootstrap port and a decode server,
// on the wall clock.
type pdPair struct {
	prefill, decode *httptest.Server
	bootHost        string
	bootPort        int
	prefillSrv      *Server
}

func startPDPair(t *testing.T, prof Profile, pre, dec Disaggregation) pdPair {
	t.Helper()
	pre.Mode, dec.Mode = ModePrefill, ModeDecode
	psrv, pts := startServer(t, Config{EnableMetrics: true, Disaggregation: pre}, prof, nil)
	_, dts := startServer(t, Config{EnableMetrics: true, Disaggregation: dec}, prof, nil)
	boot := httptest.NewServer(psrv.BootstrapHandler())
	t.Cleanup(boot.Close)
	u, _ := url.Parse(boot.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	p, _ := strconv.Atoi(port)
	waitHealthy(t, pts)
	waitHealthy(t, dts)
	return pdPair{prefill: pts, decode: dts, bootHost: host, bootPort: p, prefillSrv: psrv}
}

// pdBody is a /generate body routed by a PD router: room and the prefill
// server's bootstrap address.
func pdBody(input, output int, stream bool, host string, port int, room uint64) string {
	ids := make([]string, input)
	for i := range ids {
		ids[i] = strconv.Itoa(1 + i%500)
	}
	return fmt.Sprintf(`{"input_ids":[%s],"sampling_params":{"max_new_tokens":%d,"ignore_eos":true},"stream":%t,`+
		`"bootstrap_host":%q,"bootstrap_port":%d,"bootstrap_room":%d}`, strings.Join(ids, ","), output, stream, host, port, room)
}

// scrape reads a server's /metrics.
func scrape(t *testing.T, ts *httptest.Server) map[string]*dtoFamily {
	t.Helper()
	_, body := get(t, ts, "/metrics")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	out := map[string]*dtoFamily{}
	for name, f := range fams {
		d := &dtoFamily{}
		for _, m := range f.GetMetric() {
			switch {
			case m.Gauge != nil:
				d.value += m.Gauge.GetValue()
			case m.Counter != nil:
				d.value += m.Counter.GetValue()
			case m.Histogram != nil:
				d.count += float64(m.Histogram.GetSampleCount())
				d.sum += m.Histogram.GetSampleSum()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "engine_type" {
					d.engineType = l.GetValue()
				}
			}
		}
		out[name] = d
	}
	return out
}

type dtoFamily struct {
	value, count, sum float64
	engineType        string
}

func TestPD_DecodeWaitsForItsRoomThenStreamsFromTheTransferredKV(t *testing.T) {
	// 256 prompt tokens of 128 KiB (the fast profile's KV per token) over
	// 1 GB/s take 33.6 ms, plus 20 ms of latency.
	const input, output, room = 256, 8, 7
	prof := pdProfile(t, 1e9, 20*time.Millisecond)
	transfer := seconds(prof.kvBytesPerGPU(1)*input/1e9) + 20*time.Millisecond
	pair := startPDPair(t, prof, Disaggregation{}, Disaggregation{})

	type result struct {
		events  []string
		firstAt time.Time
		err     error
	}
	decoded := make(chan result, 1)
	go func() {
		var r result
		resp, err := http.Post(pair.decode.URL+"/generate", "application/json",
			strings.NewReader(pdBody(input, output, true, pair.bootHost, pair.bootPort, room)))
		if err != nil {
			r.err = err
			decoded <- r
			return
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				if r.firstAt.IsZero() {
					r.firstAt = time.Now()
				}
				r.events = append(r.events, data)
			}
		}
		decoded <- r
	}()

	// The decode request waits in its transfer queue for the room.
	deadline := time.Now().Add(5 * time.Second)
	for scrape(t, pair.decode)[api.MetricDecodeTransferQueue].value != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the decode request never reached its transfer queue")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case r := <-decoded:
		t.Fatalf("the decode request answered before its prefill was sent: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}

	sent := time.Now()
	resp, body := post(t, pair.prefill, pdBody(input, output, false, pair.bootHost, pair.bootPort, room))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("prefill: %s %s", resp.Status, body)
	}
	var pre api.GenerateResponse
	if err := json.Unmarshal([]byte(body), &pre); err != nil {
		t.Fatal(err)
	}
	if pre.MetaInfo.CompletionTokens != 1 || pre.MetaInfo.FinishReason == nil || pre.MetaInfo.FinishReason.Type != api.FinishLength {
		t.Errorf("prefill response: %d tokens, finish %+v; want the first token only, finish length", pre.MetaInfo.CompletionTokens, pre.MetaInfo.FinishReason)
	}
	r := <-decoded
	if r.err != nil {
		t.Fatal(r.err)
	}
	if n := len(r.events); n < 2 || r.events[n-1] != "[DONE]" {
		t.Fatalf("decode stream: %v", r.events)
	}
	var last api.GenerateResponse
	if err := json.Unmarshal([]byte(r.events[len(r.events)-2]), &last); err != nil {
		t.Fatal(err)
	}
	if last.MetaInfo.CompletionTokens != output || last.MetaInfo.FinishReason == nil || last.MetaInfo.FinishReason.Type != api.FinishLength {
		t.Errorf("decode's last chunk: %d tokens, finish %+v; want %d, length", last.MetaInfo.CompletionTokens, last.MetaInfo.FinishReason, output)
	}
	if got := r.firstAt.Sub(sent); got < transfer {
		t.Errorf("the decode's first token came %v after the prefill was sent, before the modelled transfer of %v could end", got, transfer)
	}

	pm, dm := scrape(t, pair.prefill), scrape(t, pair.decode)
	lat := pm[api.MetricKVTransferLatency]
	if lat == nil || lat.count != 1 || lat.sum < millis(transfer) {
		t.Errorf("prefill's %s: %+v; want one transfer of at least %.1f ms", api.MetricKVTransferLatency, lat, millis(transfer))
	}
	if mb := pm[api.MetricKVTransferTotalMB]; mb == nil || mb.sum != prof.kvBytesPerGPU(1)*input/(1<<20) {
		t.Errorf("prefill's %s: %+v; want %v MB", api.MetricKVTransferTotalMB, mb, prof.kvBytesPerGPU(1)*input/(1<<20))
	}
	if et := pm[api.MetricNumRunningReqs].engineType; et != ModePrefill {
		t.Errorf("prefill's engine_type is %q", et)
	}
	if et := dm[api.MetricNumRunningReqs].engineType; et != ModeDecode {
		t.Errorf("decode's engine_type is %q", et)
	}
	for _, g := range []string{api.MetricDecodePreallocQueue, api.MetricDecodeTransferQueue} {
		if v := dm[g].value; v != 0 {
			t.Errorf("decode's %s is %v after the request, want 0", g, v)
		}
	}
	if _, ok := dm[api.MetricKVTransferLatency]; ok {
		t.Errorf("the decode server exports %s, which SGLang observes on the prefill server", api.MetricKVTransferLatency)
	}
	if v := dm[api.MetricTransferFailed].value + pm[api.MetricBootstrapFailed].value; v != 0 {
		t.Errorf("failure counters: %v", v)
	}
}

func TestPD_DecodeRequestWhoseRoomNeverComesFailsAfterTheWaitingTimeout(t *testing.T) {
	prof := pdProfile(t, 1e9, 0)
	pair := startPDPair(t, prof, Disaggregation{}, Disaggregation{WaitingTimeout: 150 * time.Millisecond})
	for _, tc := range []struct {
		name   string
		stream bool
		room   uint64
	}{{"not streamed", false, 11}, {"streamed", true, 12}} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			resp, body := post(t, pair.decode, pdBody(16, 4, tc.stream, pair.bootHost, pair.bootPort, tc.room))
			waited := time.Since(began)
			if waited < 150*time.Millisecond {
				t.Errorf("failed after %v, before the waiting timeout", waited)
			}
			want := fmt.Sprintf("Request %d timed out after", tc.room)
			if !tc.stream {
				var e api.ErrorResponse
				if resp.StatusCode != http.StatusInternalServerError || json.Unmarshal([]byte(body), &e) != nil ||
					e.Code != http.StatusInternalServerError || !strings.Contains(e.Message, want) || !strings.Contains(e.Message, "KVPoll.WaitingForInput") {
					t.Fatalf("got %s %s; want SGLang's 500 abort naming the timeout", resp.Status, body)
				}
				return
			}
			events := strings.Split(strings.TrimSpace(body), "\n\n")
			if resp.StatusCode != http.StatusOK || len(events) != 2 || events[1] != "data: [DONE]" {
				t.Fatalf("got %s %q; want one abort chunk and [DONE]", resp.Status, body)
			}
			var chunk api.GenerateResponse
			if err := json.Unmarshal([]byte(strings.TrimPrefix(events[0], "data: ")), &chunk); err != nil {
				t.Fatal(err)
			}
			f := chunk.MetaInfo.FinishReason
			if f == nil || f.Type != api.FinishAbort || f.StatusCode != http.StatusInternalServerError || !strings.Contains(f.Message, want) {
				t.Fatalf("finish reason %+v; want abort 500 naming the timeout", f)
			}
		})
	}
	if v := scrape(t, pair.decode)[api.MetricTransferFailed].value; v != 2 {
		t.Errorf("%s is %v, want 2", api.MetricTransferFailed, v)
	}
}

func TestPD_PrefillRequestWhoseDecodeNeverComesFailsAfterTheBootstrapTimeout(t *testing.T) {
	pair := startPDPair(t, pdProfile(t, 1e9, 0), Disaggregation{BootstrapTimeout: 100 * time.Millisecond}, Disaggregation{})
	resp, body := post(t, pair.prefill, pdBody(16, 4, false, pair.bootHost, pair.bootPort, 21))
	var e api.ErrorResponse
	if resp.StatusCode != http.StatusInternalServerError || json.Unmarshal([]byte(body), &e) != nil ||
		!strings.Contains(e.Message, "Prefill bootstrap failed") || !strings.Contains(e.Message, "KVPoll.Bootstrapping") {
		t.Fatalf("got %s %s; want a 500 abort naming the bootstrap timeout", resp.Status, body)
	}
	m := scrape(t, pair.prefill)
	if m[api.MetricBootstrapFailed].value != 1 || m[api.MetricPrefillBootstrapQueue].value != 0 {
		t.Errorf("bootstrap failures %v, queue %v; want 1 and 0", m[api.MetricBootstrapFailed].value, m[api.MetricPrefillBootstrapQueue].value)
	}
}

func TestPD_DecodeFailsAtOnceWhenThePrefillBootstrapServerIsUnreachable(t *testing.T) {
	_, dts := startServer(t, Config{EnableMetrics: true, Disaggregation: Disaggregation{Mode: ModeDecode}}, pdProfile(t, 1e9, 0), nil)
	waitHealthy(t, dts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // nothing listens there now
	resp, body := post(t, dts, pdBody(16, 4, false, "127.0.0.1", port, 5))
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "Decode handshake failed") {
		t.Fatalf("got %s %s; want a 500 abort naming the failed handshake", resp.Status, body)
	}
	if v := scrape(t, dts)[api.MetricBootstrapFailed].value; v != 1 {
		t.Errorf("%s is %v, want 1", api.MetricBootstrapFailed, v)
	}
}

func TestPD_RequestsWithoutABootstrapRoomAreRefusedWith400(t *testing.T) {
	for _, mode := range []string{ModePrefill, ModeDecode} {
		t.Run(mode, func(t *testing.T) {
			_, ts := startServer(t, Config{Disaggregation: Disaggregation{Mode: mode}}, pdProfile(t, 1e9, 0), nil)
			waitHealthy(t, ts)
			resp, body := post(t, ts, `{"input_ids":[1,2,3],"sampling_params":{"max_new_tokens":2}}`)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, errNoRoom) {
				t.Fatalf("got %s %s; want 400 %q", resp.Status, body, errNoRoom)
			}
			resp, body = post(t, ts, `{"input_ids":[1],"bootstrap_room":[1,2],"bootstrap_host":"h"}`)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "batch requests are not simulated") {
				t.Fatalf("a batch room: got %s %s", resp.Status, body)
			}
		})
	}
}

func TestPD_FakeBackendDecodesWithoutAnyPrefillServer(t *testing.T) {
	_, dts := startServer(t, Config{Disaggregation: Disaggregation{Mode: ModeDecode, TransferBackend: "fake"}}, mustProfile(t, fastProfile), nil)
	waitHealthy(t, dts)
	resp, body := post(t, dts, pdBody(16, 4, false, "127.0.0.1", 1, 3))
	var out api.GenerateResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil || out.MetaInfo.CompletionTokens != 4 {
		t.Fatalf("got %s %s; want 4 tokens", resp.Status, body)
	}
}

func TestPD_OpenAIRequestsCarryTheirRoom(t *testing.T) {
	pair := startPDPair(t, pdProfile(t, 1e9, 0), Disaggregation{}, Disaggregation{})
	extra := fmt.Sprintf(`"bootstrap_host":%q,"bootstrap_port":%d,"bootstrap_room":31`, pair.bootHost, pair.bootPort)
	body := `{"model":"m","prompt":[1,2,3,4],"max_tokens":3,"ignore_eos":true,` + extra + `}`
	done := make(chan string, 1)
	go func() {
		resp, err := http.Post(pair.decode.URL+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- resp.Status + " " + string(b)
	}()
	resp, err := http.Post(pair.prefill.URL+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := <-done; !strings.HasPrefix(got, "200") || !strings.Contains(got, `"completion_tokens":3`) {
		t.Fatalf("decode answered %s", got)
	}
}

func TestKVLink_TransfersQueueBehindEachOtherAndAddTheLatency(t *testing.T) {
	l := kvLink{bandwidth: 1e9, latency: 2 * time.Millisecond}
	for _, tc := range []struct {
		at    time.Duration
		bytes float64
		want  time.Duration
	}{
		{0, 10e6, 12 * time.Millisecond},                           // 10 ms on the link, then 2 ms
		{5 * time.Millisecond, 5e6, 17 * time.Millisecond},         // waits for the first until 10 ms
		{40 * time.Millisecond, 1e6, 43 * time.Millisecond},        // an idle link starts at once
		{40 * time.Millisecond, 0, 43 * time.Millisecond},          // nothing to send: behind the last
		{100 * time.Millisecond, 0, 102 * time.Millisecond},        // only the latency
		{100 * time.Millisecond, 2e6, 104 * time.Millisecond},      // behind the empty one at 100 ms
		{200 * time.Millisecond, 1e9 / 2, 702 * time.Millisecond},  // half a second of data
		{300 * time.Millisecond, 1e6, 703 * time.Millisecond},      // queued behind it
		{1000 * time.Millisecond, 1e6, 1003 * time.Millisecond},    // long after
		{1000 * time.Millisecond, 1e6, 1004 * time.Millisecond},    // and one more at the same instant
		{1000 * time.Millisecond, 3e6, 1007 * time.Millisecond},    // and a larger one
		{2000 * time.Millisecond, 1e3, 2002001 * time.Microsecond}, // a few KiB
	} {
		if got := l.schedule(tc.at, tc.bytes); got != tc.want {
			t.Errorf("schedule(%v, %v) = %v, want %v", tc.at, tc.bytes, got, tc.want)
		}
	}
}

func TestParseFlags_DisaggregationFlagsAndTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    Disaggregation
		wantErr string
	}{
		{name: "defaults", want: Disaggregation{}},
		{name: "prefill", args: []string{"--disaggregation-mode", "prefill", "--disaggregation-bootstrap-port", "9001", "--disaggregation-transfer-backend", "nixl"},
			want: Disaggregation{Mode: ModePrefill, BootstrapPort: 9001, TransferBackend: "nixl"}},
		{name: "decode with timeouts", args: []string{"--disaggregation-mode=decode"}, env: map[string]string{EnvWaitingTimeout: "5", EnvBootstrapTimeout: "7"},
			want: Disaggregation{Mode: ModeDecode, WaitingTimeout: 5 * time.Second, BootstrapTimeout: 7 * time.Second}},
		{name: "unknown mode", args: []string{"--disaggregation-mode", "encode"}, wantErr: `--disaggregation-mode "encode"`},
		{name: "unknown backend", args: []string{"--disaggregation-transfer-backend", "rdma"}, wantErr: `--disaggregation-transfer-backend "rdma": expected one of mooncake`},
		{name: "bad port", args: []string{"--disaggregation-bootstrap-port", "70000"}, wantErr: "--disaggregation-bootstrap-port 70000"},
		{name: "bad timeout", env: map[string]string{EnvWaitingTimeout: "1.5"}, wantErr: EnvWaitingTimeout + `="1.5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseFlags(append([]string{"--model-path", "m"}, tc.args...), io.Discard)
			if err == nil {
				err = cfg.Disaggregation.readEnv(func(k string) string { return tc.env[k] })
			}
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.Disaggregation != tc.want:
				t.Errorf("got %+v, want %+v", cfg.Disaggregation, tc.want)
			}
		})
	}
}

func TestNewServer_APrefillServerNeedsTheProfilesKVTransferFigures(t *testing.T) {
	prof := mustProfile(t, fastProfile)
	prof.KVTransfer = nil
	_, err := NewServer(Options{Config: Config{ModelPath: "m", Disaggregation: Disaggregation{Mode: ModePrefill}}, Profile: prof})
	if err == nil || !strings.Contains(err.Error(), "kv_transfer") {
		t.Fatalf("err = %v, want one naming kv_transfer", err)
	}
	// The fake backend moves nothing, so it needs no link.
	if _, err := NewServer(Options{Config: Config{ModelPath: "m", Disaggregation: Disaggregation{Mode: ModePrefill, TransferBackend: "fake"}}, Profile: prof}); err != nil {
		t.Fatal(err)
	}
}

func TestEngine_PrebuiltRequestSkipsPrefillComputeAndOutputsItsFirstTokenAtAdmission(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	e := mustEngine(t, EngineConfig{DisableRadixCache: true}, prof, 1)
	if err := e.Add(Request{ID: "a", InputTokens: 4000, MaxNewTokens: 3, Prebuilt: true, PrebuiltCached: 100, Stream: true}); err != nil {
		t.Fatal(err)
	}
	st := e.Step(0)
	want := e.model.hostTime(1)
	if st.Kind != StepPrefill || st.End-st.Start != want {
		t.Fatalf("first step %v lasting %v; want a prebuilt step of host time %v", st.Kind, st.End-st.Start, want)
	}
	if len(st.Outputs) != 1 || st.Outputs[0].Generated != 1 || st.Outputs[0].CachedTokens != 100 {
		t.Fatalf("outputs %+v; want the first token with the prefill's cached tokens", st.Outputs)
	}
	if m := e.Metrics(); m.PrefillComputeTokens != 0 {
		t.Errorf("prefill compute tokens %d; a prebuilt request computes none", m.PrefillComputeTokens)
	}
	if u := e.Usage(); u.UsedTokens != 4000 || u.Running != 1 {
		t.Errorf("usage %+v; want the prompt's KV held and one running request", u)
	}
	for _, gen := range []int{2, 3} {
		st = e.Step(st.End)
		if st.Kind != StepDecode || len(st.Outputs) != 1 || st.Outputs[0].Generated != gen {
			t.Fatalf("step %v outputs %+v; want decode to token %d", st.Kind, st.Outputs, gen)
		}
	}
	if !st.Outputs[0].Finished {
		t.Error("the request did not finish at its third token")
	}
}

func TestEngine_PrebuiltRequestsWaitForKVSlots(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	e := mustEngine(t, EngineConfig{DisableRadixCache: true, MaxTotalTokens: 5000}, prof, 1)
	for _, id := range []string{"a", "b"} {
		if err := e.Add(Request{ID: id, InputTokens: 3000, MaxNewTokens: 2, Prebuilt: true}); err != nil {
			t.Fatal(err)
		}
	}
	st := e.Step(0)
	if len(st.Chunks) != 1 || st.Chunks[0].ID != "a" {
		t.Fatalf("admitted %+v; want only a, for b's KV does not fit beside it", st.Chunks)
	}
	for e.Usage().Queued > 0 {
		st = e.Step(st.End)
		if st.Kind == StepIdle {
			t.Fatal("b was never admitted")
		}
	}
	if m := e.Metrics(); m.PrefillComputeTokens != 0 {
		t.Errorf("prefill compute tokens %d, want 0", m.PrefillComputeTokens)
	}
}
