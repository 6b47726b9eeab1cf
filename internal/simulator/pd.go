package simulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// Prefill-decode (PD) disaggregation: a prefill server runs each request's
// prefill only and hands its KV cache to a decode server, which generates
// the rest. A router (smg in PD mode) picks a pair, adds bootstrap_host,
// bootstrap_port and bootstrap_room to the request and sends it to both at
// once. What follows is read from SGLang's python/sglang/srt/disaggregation
// (prefill.py, decode.py, common/conn.py, fake/conn.py) and smg's
// model_gateway/src/routers/http/pd_router.rs:
//
//   - The decode server answers the client: the router waits for both
//     response heads, drains the prefill response (it keeps it only for
//     input logprobs) and streams the decode response. The prefill response
//     is one output, the first token, whose finish reason is length 0; it
//     is sent once the KV transfer has completed.
//   - The prefill server holds a request in its bootstrap queue until the
//     decode server that got the same room has connected to it (the decode
//     reserves KV and sends where it should go), for at most
//     SGLANG_DISAGGREGATION_BOOTSTRAP_TIMEOUT (300 s); it then prefills with
//     max_new_tokens 1 and keeps the request in its inflight queue until the
//     transfer reports success.
//   - The decode server reaches the prefill server through the bootstrap
//     host and port the request carries (a null port means its own
//     --disaggregation-bootstrap-port), waits in its prealloc queue for the
//     handshake and in its transfer queue for the KV, for at most
//     SGLANG_DISAGGREGATION_WAITING_TIMEOUT (300 s), then admits the
//     request without computing its prompt (engine_prebuilt.go). A failed
//     handshake or transfer aborts the request with status 500.
//   - The "fake" backend, which SGLang also uses for warmup and health
//     checks, completes the handshake and the transfer at once and moves
//     no data: a fake decode server does not wait for any prefill server.
//   - kv_transfer_latency_ms is observed on the prefill server, from the
//     end of the request's prefill to the transfer's success;
//     kv_transfer_bootstrap_ms is its wait for the decode's handshake and
//     kv_transfer_alloc_ms the wait after it for a metadata slot.
//
// The simulator cannot reproduce SGLang's wire protocol (ZMQ and RDMA), so
// its prefill server serves its own small HTTP protocol on the bootstrap
// port: GET /health, as SGLang's bootstrap server answers the decode's
// heartbeat, and POST /sim/kv/{room}, on which a decode server registers
// for a room (the handshake) and then waits for the transfer's outcome.
// The transfer itself takes the time the profile's kv_transfer link gives:
// the prompt's KV bytes on one GPU over that GPU's bandwidth, queued behind
// the prefill server's earlier transfers, plus a fixed latency. Every
// transfer backend SGLang accepts is accepted; all but "fake" are this one
// link, so the simulator does not tell mooncake from nixl or TCP.

// Disaggregation modes and SGLang's defaults for the PD flags and timeouts.
const (
	ModeNull    = "null"
	ModePrefill = "prefill"
	ModeDecode  = "decode"

	DefaultBootstrapPort   = 8998
	DefaultTransferBackend = "mooncake"
	DefaultPDTimeout       = 300 * time.Second

	// fakeBootstrapHost marks SGLang's warmup and health requests, which
	// use the fake transfer whatever the backend.
	fakeBootstrapHost = "2.2.2.2"
	// bootstrapPath is the decode's registration on the bootstrap port.
	bootstrapPath = "/sim/kv/"
)

// TransferBackends are the --disaggregation-transfer-backend values SGLang
// accepts (DISAGG_TRANSFER_BACKEND_CHOICES; mooncake_tcp is mooncake over
// TCP).
var TransferBackends = []string{"mooncake", "nixl", "ascend", "fake", "mori", "mooncake_tcp"}

// The environment variables SGLang reads its PD timeouts from, in whole
// seconds.
const (
	EnvBootstrapTimeout = "SGLANG_DISAGGREGATION_BOOTSTRAP_TIMEOUT"
	EnvWaitingTimeout   = "SGLANG_DISAGGREGATION_WAITING_TIMEOUT"
)

// Disaggregation holds a server's PD settings: SGLang's
// --disaggregation-* flags and timeout variables.
type Disaggregation struct {
	// Mode is null (or empty), prefill or decode.
	Mode string
	// BootstrapPort is where a prefill server's bootstrap server listens,
	// and the port a decode server assumes for a request without one;
	// 0 means DefaultBootstrapPort.
	BootstrapPort int
	// TransferBackend is one of TransferBackends; empty means mooncake.
	TransferBackend string
	// BootstrapTimeout bounds a prefill request's wait for its decode
	// server's handshake, WaitingTimeout a decode request's wait for its
	// KV; 0 means DefaultPDTimeout.
	BootstrapTimeout, WaitingTimeout time.Duration
}

// Enabled reports whether the server is a prefill or a decode server.
func (d Disaggregation) Enabled() bool { return d.Mode == ModePrefill || d.Mode == ModeDecode }

func (d Disaggregation) port() int { return cmpOr(d.BootstrapPort, DefaultBootstrapPort) }

func (d Disaggregation) backend() string {
	if d.TransferBackend == "" {
		return DefaultTransferBackend
	}
	return d.TransferBackend
}

func (d Disaggregation) fake() bool { return d.backend() == "fake" }

func durationOr(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// addDisaggregationFlags registers SGLang's PD flags on fs. Their defaults
// stay the zero value, which means SGLang's default, so that an argv
// without them leaves Config.Disaggregation zero.
func addDisaggregationFlags(fs *flag.FlagSet, d *Disaggregation) {
	fs.StringVar(&d.Mode, "disaggregation-mode", "", "PD disaggregation role: null, prefill or decode (default null)")
	fs.IntVar(&d.BootstrapPort, "disaggregation-bootstrap-port", 0,
		"prefill: the port of the bootstrap server decode servers reach it on; decode: the port a request without one means (default 8998)")
	fs.StringVar(&d.TransferBackend, "disaggregation-transfer-backend", "",
		"KV transfer backend: "+strings.Join(TransferBackends, ", ")+"; fake moves nothing at once, the others take the profile's kv_transfer link (default mooncake)")
}

// check validates the PD flags as SGLang's argument parser does.
func (d Disaggregation) check() error {
	var errs []error
	if d.Mode != "" && d.Mode != ModeNull && !d.Enabled() {
		errs = append(errs, fmt.Errorf("--disaggregation-mode %q: expected null, prefill or decode", d.Mode))
	}
	if !slices.Contains(TransferBackends, d.backend()) {
		errs = append(errs, fmt.Errorf("--disaggregation-transfer-backend %q: expected one of %s", d.TransferBackend, strings.Join(TransferBackends, ", ")))
	}
	if d.BootstrapPort < 0 || d.BootstrapPort > 65535 {
		errs = append(errs, fmt.Errorf("--disaggregation-bootstrap-port %d: expected a port from 1 to 65535", d.BootstrapPort))
	}
	if d.BootstrapTimeout < 0 || d.WaitingTimeout < 0 {
		errs = append(errs, errors.New("PD timeouts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	return nil
}

// readEnv takes the PD timeouts from SGLang's environment variables, whole
// seconds as SGLang reads them; an unset variable keeps the default.
func (d *Disaggregation) readEnv(getenv func(string) string) error {
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{EnvBootstrapTimeout, &d.BootstrapTimeout}, {EnvWaitingTimeout, &d.WaitingTimeout}} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("simulator: %s=%q: expected a positive whole number of seconds", v.name, s)
		}
		*v.dst = time.Duration(n) * time.Second
	}
	return nil
}

// adjust applies what SGLang forces in PD mode: a decode server keeps no
// radix cache (--disaggregation-decode-enable-radix-cache is not simulated)
// and --max-queued-requests is ignored.
func (d Disaggregation) adjust(cfg *Config) {
	if !d.Enabled() {
		return
	}
	cfg.MaxQueuedRequests = 0
	if d.Mode == ModeDecode {
		cfg.DisableRadixCache = true
	}
}

// KVTransferParams are the link a prefill server sends KV over in PD
// disaggregation (profile field kv_transfer).
type KVTransferParams struct {
	// BandwidthPerGPU is what one GPU's share of the KV moves at, in
	// bytes per second; a TP-N server sends its N shards in parallel.
	BandwidthPerGPU Param `json:"bandwidth_bytes_per_s_per_gpu"`
	// Latency is a fixed cost per transfer, in seconds.
	Latency Param `json:"latency_s"`
}

// validateKVTransfer checks the optional kv_transfer section.
func (p *Profile) validateKVTransfer(bad func(field, msg string)) {
	k := p.KVTransfer
	if k == nil {
		return
	}
	for _, f := range []struct {
		field string
		p     *Param
		r     rule
	}{{"kv_transfer.bandwidth_bytes_per_s_per_gpu", &k.BandwidthPerGPU, positive}, {"kv_transfer.latency_s", &k.Latency, nonNegative}} {
		if strings.TrimSpace(f.p.Provenance) == "" {
			bad(f.field, "has no provenance")
		}
		if msg := f.r.check(f.p.Value); msg != "" {
			bad(f.field, fmt.Sprintf("%s (got %v)", msg, f.p.Value))
		}
	}
}

// Bootstrap is the PD handoff a request carries.
type Bootstrap struct {
	Host string
	// Port is 0 when the request carried none (a null bootstrap_port).
	Port int
	Room uint64
}

func (b *Bootstrap) fake() bool { return b.Host == fakeBootstrapHost }

// bootstrapFields are the request's PD fields as sent, kept raw so that a
// batch's lists and nulls can be told apart.
type bootstrapFields struct {
	BootstrapHost json.RawMessage `json:"bootstrap_host"`
	BootstrapPort json.RawMessage `json:"bootstrap_port"`
	BootstrapRoom json.RawMessage `json:"bootstrap_room"`
}

// parse returns the handoff, or nil when the request carries no room.
func (f bootstrapFields) parse() (*Bootstrap, *valueError) {
	if !present(f.BootstrapRoom) {
		return nil, nil
	}
	var b Bootstrap
	if err := json.Unmarshal(f.BootstrapRoom, &b.Room); err != nil {
		return nil, valueErrorf("bootstrap_room must be one integer from 0 to 2^64-1: batch requests are not simulated (got %s)", f.BootstrapRoom)
	}
	// A server outside PD mode ignores the host (follow_bootstrap_room
	// reads the room alone); a PD server requires it (pdEnqueue).
	if present(f.BootstrapHost) {
		if err := json.Unmarshal(f.BootstrapHost, &b.Host); err != nil || b.Host == "" {
			return nil, valueErrorf("bootstrap_host must be one host name: batch requests are not simulated (got %s)", f.BootstrapHost)
		}
	}
	if present(f.BootstrapPort) {
		if err := json.Unmarshal(f.BootstrapPort, &b.Port); err != nil || b.Port < 1 || b.Port > 65535 {
			return nil, valueErrorf("bootstrap_port must be one port number or null (got %s)", f.BootstrapPort)
		}
	}
	return &b, nil
}

// errNoRoom is SGLang's refusal of a request sent to a PD server without
// going through a PD router.
const errNoRoom = "Disaggregated request received without bootstrap room id"

// pdServer is a server's PD side: the transfer link, the rooms and the PD
// metrics.
type pdServer struct {
	cfg     Disaggregation
	link    kvLink
	kvBytes float64 // one token's KV bytes on one GPU
	rooms   roomTable
	client  *http.Client

	// Queue gauges (SGLang's num_*_queue_reqs), live.
	bootstrapQ, inflightQ, preallocQ, transferQ atomic.Int64
	preallocTokens                              atomic.Int64
	bootstrapFailed, transferFailed             atomic.Int64

	latencyMS, speedGBs, totalMB, bootstrapMS, allocMS *histogram
}

// SGLang's buckets for the KV transfer histograms (metrics_collector.py).
var (
	kvLatencyBuckets   = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000}
	kvSpeedBuckets     = []float64{0.1, 0.5, 1, 5, 10, 25, 50, 100, 200, 400}
	kvTotalMBBuckets   = []float64{1, 5, 10, 50, 100, 500, 1000, 5000, 10000}
	kvBootstrapBuckets = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500}
)

// newPDServer checks the PD settings against the profile; nil when the
// server is not disaggregated.
func newPDServer(cfg Config, prof Profile) (*pdServer, error) {
	d := cfg.Disaggregation
	if err := d.check(); err != nil {
		return nil, err
	}
	if !d.Enabled() {
		return nil, nil
	}
	p := &pdServer{
		cfg: d, client: &http.Client{Transport: &http.Transport{Proxy: nil}},
		latencyMS: newHistogram(kvLatencyBuckets), speedGBs: newHistogram(kvSpeedBuckets),
		totalMB: newHistogram(kvTotalMBBuckets), bootstrapMS: newHistogram(kvBootstrapBuckets),
		allocMS: newHistogram(kvBootstrapBuckets),
	}
	p.rooms.rooms = map[uint64]*room{}
	if d.Mode == ModePrefill && !d.fake() {
		k := prof.KVTransfer
		if k == nil {
			return nil, fmt.Errorf("simulator: profile %s has no kv_transfer figures, which a prefill server needs to time its KV transfers", prof.Name)
		}
		p.kvBytes = prof.kvBytesPerGPU(cfg.TPSize)
		p.link = kvLink{bandwidth: k.BandwidthPerGPU.Value, latency: seconds(k.Latency.Value)}
	}
	return p, nil
}

// kvLink is one prefill server's KV link: transfers share its bandwidth
// one after another, each then taking the fixed latency.
type kvLink struct {
	bandwidth float64
	latency   time.Duration
	mu        sync.Mutex
	free      time.Duration // when the link has sent everything queued so far
}

// schedule queues a transfer of bytes ready at now and returns when it
// completes.
func (l *kvLink) schedule(now time.Duration, bytes float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := max(now, l.free)
	l.free = start + seconds(bytes/l.bandwidth)
	return l.free + l.latency
}

// roomTable is a prefill server's bootstrap state: one room per request
// in flight, met by the prefill request and the decode's registration in
// either order.
type roomTable struct {
	mu    sync.Mutex
	rooms map[uint64]*room
}

type room struct {
	// bootstrapped closes when a decode server registered; done when the
	// transfer succeeded or failed (result set first); gone when the
	// decode's wait ended before done.
	bootstrapped, done, gone chan struct{}
	prefill, decode          bool // a prefill request, a decode registration holds it
	result                   kvResult
	closedBoot, closedDone   bool
	closedGone               bool
}

// kvResult is the outcome a decode server receives for its room.
type kvResult struct {
	Status       string `json:"status"` // bootstrapped, success or failed
	CachedTokens int    `json:"cached_tokens,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

func (t *roomTable) get(id uint64) *room {
	r := t.rooms[id]
	if r == nil {
		r = &room{bootstrapped: make(chan struct{}), done: make(chan struct{}), gone: make(chan struct{})}
		t.rooms[id] = r
	}
	return r
}

// openPrefill claims room id for a prefill request.
func (t *roomTable) openPrefill(id uint64) (*room, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.get(id)
	if r.prefill {
		return nil, fmt.Errorf("bootstrap_room %d is already in use by another request", id)
	}
	r.prefill = true
	return r, nil
}

// registerDecode is a decode server's handshake for room id.
func (t *roomTable) registerDecode(id uint64) (*room, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.get(id)
	if r.decode {
		return nil, fmt.Errorf("bootstrap_room %d already has a decode server", id)
	}
	r.decode = true
	r.closedBoot = true
	close(r.bootstrapped)
	return r, nil
}

// finish ends room id with res (success or failure), waking its decode.
func (t *roomTable) finish(id uint64, r *room, res kvResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !r.closedDone {
		r.result, r.closedDone = res, true
		close(r.done)
	}
	if t.rooms[id] == r {
		delete(t.rooms, id)
	}
}

// decodeLeft records that the decode's wait on room id ended; a room no
// prefill request holds is forgotten.
func (t *roomTable) decodeLeft(id uint64, r *room) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !r.closedDone && !r.closedGone {
		r.closedGone = true
		close(r.gone)
	}
	if !r.prefill && t.rooms[id] == r {
		delete(t.rooms, id)
	}
}

// pdEnqueue is enqueue for a prefill or decode server (the request has
// reached the scheduler at req.Arrival).
func (s *Server) pdEnqueue(ctx context.Context, received time.Duration, req Request) (*stream, error) {
	b := req.Bootstrap
	if b == nil {
		return nil, errors.New(errNoRoom)
	}
	if b.Host == "" {
		return nil, errors.New("bootstrap_host is required with bootstrap_room")
	}
	if b.Port == 0 {
		b.Port = s.pd.cfg.port()
	}
	if s.pd.cfg.Mode == ModeDecode {
		return s.decodeEnqueue(ctx, received, req)
	}
	return s.prefillEnqueue(ctx, received, req)
}

// prefillEnqueue runs a prefill request: the handshake, the prefill, the
// transfer. The stream it returns ends when the transfer has completed.
func (s *Server) prefillEnqueue(ctx context.Context, received time.Duration, req Request) (*stream, error) {
	p, b := s.pd, req.Bootstrap
	// SGLang prefills with max_new_tokens 1: the first token is the
	// prefill server's whole output.
	req.MaxNewTokens, req.StopAtEOS = 1, false
	if b.fake() || p.cfg.fake() {
		return s.pdDriver().submit(req, received, true)
	}
	r, err := p.rooms.openPrefill(b.Room)
	if err != nil {
		return nil, err
	}
	failed := func(reason, stage string, counter *atomic.Int64) (*stream, error) {
		msg := fmt.Sprintf("Prefill %s failed for request rank=0 req.rid='%s' req.bootstrap_room=%d with exception KVTransferError(bootstrap_room=%d): %s",
			stage, req.ID, b.Room, b.Room, reason)
		p.rooms.finish(b.Room, r, kvResult{Status: "failed", Reason: msg})
		counter.Add(1)
		s.log.Warn(msg)
		return failedStream(req, received, &abortError{status: http.StatusInternalServerError, msg: msg}), nil
	}

	// The bootstrap queue: wait for the decode server's handshake.
	entered := s.clock.Now()
	p.bootstrapQ.Add(1)
	timeout := durationOr(p.cfg.BootstrapTimeout, DefaultPDTimeout)
	waitCtx, cancel := context.WithCancel(ctx)
	timer := make(chan error, 1)
	go func() { timer <- s.clock.SleepUntil(waitCtx, entered+timeout) }()
	select {
	case <-r.bootstrapped:
	case err = <-timer:
	case <-ctx.Done():
	}
	cancel()
	p.bootstrapQ.Add(-1)
	switch {
	case ctx.Err() != nil:
		p.rooms.finish(b.Room, r, kvResult{Status: "failed", Reason: "Aborted by AbortReq."})
		return nil, ctx.Err()
	case err == nil && !isClosed(r.bootstrapped):
		elapsed := s.clock.Now() - entered
		return failed(fmt.Sprintf("Request %d timed out after %.1fs in KVPoll.Bootstrapping", b.Room, elapsed.Seconds()), "bootstrap", &p.bootstrapFailed)
	}
	bootstrapped := s.clock.Now()
	p.bootstrapMS.observe(millis(bootstrapped-entered), 1)
	p.allocMS.observe(0, 1) // a metadata slot is always free here

	inner, err := s.pdDriver().submit(req, received, false)
	if err != nil {
		p.rooms.finish(b.Room, r, kvResult{Status: "failed", Reason: err.Error()})
		return nil, err
	}
	state, err := inner.wait(ctx)
	var abort *abortError
	switch {
	case ctx.Err() != nil:
		s.pdDriver().abort(req.ID)
		p.rooms.finish(b.Room, r, kvResult{Status: "failed", Reason: "Aborted by AbortReq."})
		return nil, ctx.Err()
	case errors.As(err, &abort):
		p.rooms.finish(b.Room, r, kvResult{Status: "failed", Reason: abort.msg})
		return failedStream(req, received, abort), nil
	case err != nil:
		p.rooms.finish(b.Room, r, kvResult{Status: "failed", Reason: err.Error()})
		return nil, err
	}

	// The inflight queue: the KV goes out over the link.
	prefilled := s.clock.Now()
	bytes := p.kvBytes * float64(req.InputTokens)
	done := p.link.schedule(prefilled, bytes)
	p.inflightQ.Add(1)
	err = s.clock.SleepUntil(ctx, done)
	p.inflightQ.Add(-1)
	if err != nil {
		p.rooms.finish(b.Room, r, kvResult{Status: "failed", Reason: "Aborted by AbortReq."})
		return nil, err
	}
	if isClosed(r.gone) {
		return failed("Decode instance could be dead: it stopped waiting for the KV cache", "transfer", &p.transferFailed)
	}
	now := s.clock.Now()
	latency := now - prefilled
	p.latencyMS.observe(millis(latency), 1)
	mb := bytes / (1 << 20)
	p.totalMB.observe(mb, 1)
	if latency > 0 {
		p.speedGBs.observe(mb/1024/latency.Seconds(), 1)
	}
	p.rooms.finish(b.Room, r, kvResult{Status: "success", CachedTokens: state.cachedTokens})

	// The response leaves now: the front end's metrics see it now.
	out := Output{ID: req.ID, NewTokens: state.generated, Generated: state.generated, Finished: true,
		FinishReason: state.finishReason, CachedTokens: state.cachedTokens, Retractions: state.retractions, At: now}
	st := newStream(req, received)
	s.front.observe(st, out, now)
	s.pdDriver().lastOutput.Store(int64(now))
	st.publish(out)
	return st, nil
}

// decodeEnqueue registers a decode request, waits for its KV and hands it
// to the engine as prebuilt.
func (s *Server) decodeEnqueue(ctx context.Context, received time.Duration, req Request) (*stream, error) {
	p, b := s.pd, req.Bootstrap
	st, err := s.pdDriver().reserve(req, received)
	if err != nil {
		return nil, err
	}
	cached := 0
	if !b.fake() && !p.cfg.fake() {
		var res kvResult
		res, err = s.fetchKV(ctx, req)
		if ctx.Err() != nil {
			s.pdDriver().unreserve(req.ID, st)
			return nil, ctx.Err()
		}
		if err != nil {
			s.pdDriver().unreserve(req.ID, st)
			s.log.Warn(err.Error())
			st.fail(&abortError{status: http.StatusInternalServerError, msg: err.Error()})
			return st, nil
		}
		cached = res.CachedTokens
	}
	req.Arrival = s.clock.Now()
	req.Prebuilt, req.PrebuiltCached = true, cached
	if !s.pdDriver().commit(st, req) {
		return nil, errors.New("request aborted before its KV arrived")
	}
	return st, nil
}

// fetchKV is the decode side of the handoff: register for the room on the
// prefill server's bootstrap port (the prealloc queue), then wait for the
// transfer's outcome (the transfer queue) until the waiting timeout.
func (s *Server) fetchKV(ctx context.Context, req Request) (kvResult, error) {
	p, b := s.pd, req.Bootstrap
	addr := net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
	fail := func(stage, reason string, counter *atomic.Int64) (kvResult, error) {
		counter.Add(1)
		return kvResult{}, fmt.Errorf("Decode %s failed for request rank=0 decode_req.req.rid='%s' decode_req.req.bootstrap_room=%d with exception KVTransferError(bootstrap_room=%d): %s",
			stage, req.ID, b.Room, b.Room, reason)
	}
	p.preallocQ.Add(1)
	p.preallocTokens.Add(int64(req.InputTokens))
	inPrealloc := true
	leavePrealloc := func() {
		if inPrealloc {
			inPrealloc = false
			p.preallocQ.Add(-1)
			p.preallocTokens.Add(-int64(req.InputTokens))
			p.transferQ.Add(1)
		}
	}
	defer func() {
		if inPrealloc {
			p.preallocQ.Add(-1)
			p.preallocTokens.Add(-int64(req.InputTokens))
		} else {
			p.transferQ.Add(-1)
		}
	}()

	began := s.clock.Now()
	timeout := durationOr(p.cfg.WaitingTimeout, DefaultPDTimeout)
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	timedOut := make(chan struct{})
	go func() {
		if s.clock.SleepUntil(waitCtx, began+timeout) == nil {
			close(timedOut)
			cancel()
		}
	}()
	hreq, err := http.NewRequestWithContext(waitCtx, http.MethodPost, "http://"+addr+bootstrapPath+strconv.FormatUint(b.Room, 10), nil)
	if err != nil {
		return fail("handshake", err.Error(), &p.bootstrapFailed)
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		if isClosed(timedOut) {
			return fail("transfer", fmt.Sprintf("Request %d timed out after %.1fs in KVPoll.WaitingForInput", b.Room, (s.clock.Now()-began).Seconds()), &p.transferFailed)
		}
		return fail("handshake", fmt.Sprintf("Could not fetch prefill server info from the bootstrap server at %s: %v", addr, err), &p.bootstrapFailed)
	}
	defer func() { _ = resp.Body.Close() }() // read to its end or abandoned
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fail("handshake", fmt.Sprintf("the bootstrap server at %s answered %s: %s", addr, resp.Status, bytes.TrimSpace(body)), &p.bootstrapFailed)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		var res kvResult
		if err := json.Unmarshal(lines.Bytes(), &res); err != nil {
			return fail("transfer", fmt.Sprintf("the bootstrap server at %s sent %q: %v", addr, lines.Text(), err), &p.transferFailed)
		}
		switch res.Status {
		case "bootstrapped":
			leavePrealloc()
		case "success":
			return res, nil
		case "failed":
			return fail("transfer", res.Reason, &p.transferFailed)
		}
	}
	if isClosed(timedOut) {
		return fail("transfer", fmt.Sprintf("Request %d timed out after %.1fs in KVPoll.WaitingForInput", b.Room, (s.clock.Now()-began).Seconds()), &p.transferFailed)
	}
	return fail("transfer", fmt.Sprintf("Lost connection with prefill instance (bootstrap_addr: %s)", addr), &p.transferFailed)
}

// BootstrapHandler serves a prefill server's bootstrap port: GET /health,
// and POST /sim/kv/{room}, which registers a decode server for the room,
// answers one JSON line {"status":"bootstrapped"} at once and, when the
// transfer has ended, a second: {"status":"success","cached_tokens":N} or
// {"status":"failed","reason":...}. The answer is cut off if the decode
// goes away, which fails a transfer not yet complete. Nil for a server
// that is not a prefill server.
func (s *Server) BootstrapHandler() http.Handler {
	if s.pd == nil || s.pd.cfg.Mode != ModePrefill {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST "+bootstrapPath+"{room}", s.handleBootstrap)
	return mux
}

func (s *Server) handleBootstrap(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("room"), 10, 64)
	if err != nil {
		http.Error(w, "bad room: "+err.Error(), http.StatusBadRequest)
		return
	}
	rm, err := s.pd.rooms.registerDecode(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	defer s.pd.rooms.decodeLeft(id, rm)
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	rc := http.NewResponseController(w)
	if enc.Encode(kvResult{Status: "bootstrapped"}) != nil || rc.Flush() != nil {
		return
	}
	select {
	case <-rm.done:
		_ = enc.Encode(rm.result)
		_ = rc.Flush()
	case <-r.Context().Done():
	}
}

// bootstrapServer is a prefill server's listener on its bootstrap port.
type bootstrapServer struct {
	srv  *http.Server
	done chan error
	log  *slog.Logger
}

// startBootstrap listens on host and the bootstrap port when s is a
// prefill server, and returns nil otherwise.
func (s *Server) startBootstrap(host string) (*bootstrapServer, error) {
	h := s.BootstrapHandler()
	if h == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(s.pd.cfg.port())))
	if err != nil {
		return nil, fmt.Errorf("simulator: bootstrap server: %w", err)
	}
	b := &bootstrapServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}, done: make(chan error, 1), log: s.log}
	go func() { b.done <- b.srv.Serve(ln) }()
	s.log.Info("bootstrap server listening", "addr", ln.Addr().String())
	return b, nil
}

// close stops the bootstrap server, cutting off decode servers still
// waiting (their transfers fail as a dead prefill server's would).
func (b *bootstrapServer) close() {
	if b == nil {
		return
	}
	_ = b.srv.Close() // Serve's return says how it ended
	if err := <-b.done; !errors.Is(err, http.ErrServerClosed) {
		b.log.Error("the bootstrap server failed", "err", err)
	}
}

// writePDMetrics writes the PD families that apply to the server's role.
func (s *Server) writePDMetrics(w io.Writer, labels string) {
	p := s.pd
	if p == nil {
		return
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s{%s} %s\n", name, help, name, name, labels, pyFloat(v))
	}
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s{%s} %s\n", name, help, name, name, labels, pyFloat(float64(v)))
	}
	hist := func(name, help string, h *histogram) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
		h.write(w, name, labels)
	}
	if p.cfg.Mode == ModePrefill {
		gauge(api.MetricPrefillBootstrapQueue, "The number of requests in the prefill bootstrap queue.", float64(p.bootstrapQ.Load()))
		gauge(api.MetricPrefillInflightQueue, "The number of requests in the prefill inflight queue.", float64(p.inflightQ.Load()))
	} else {
		gauge(api.MetricDecodePreallocQueue, "The number of requests in the decode prealloc queue.", float64(p.preallocQ.Load()))
		gauge(api.MetricDecodeTransferQueue, "The number of requests in the decode transfer queue.", float64(p.transferQ.Load()))
		gauge(api.MetricPendingPreallocTokenUsage, "The token usage for pending preallocated tokens (not preallocated yet).",
			round2(float64(p.preallocTokens.Load())/float64(s.lim.MaxTotalTokens)))
	}
	counter(api.MetricBootstrapFailed, "The number of bootstrap failed requests.", p.bootstrapFailed.Load())
	counter(api.MetricTransferFailed, "The number of transfer failed requests.", p.transferFailed.Load())
	if p.cfg.Mode == ModePrefill {
		counter(api.MetricPrefillRetries, "Total number of prefill retries.", 0)
		hist(api.MetricKVTransferLatency, "Histogram of KV cache transfer latency in ms.", p.latencyMS)
		hist(api.MetricKVTransferSpeed, "Histogram of KV cache transfer speed in GB/s.", p.speedGBs)
		hist(api.MetricKVTransferTotalMB, "Histogram of KV cache transfer size in MB.", p.totalMB)
		hist(api.MetricKVTransferBootstrap, "Histogram of KV transfer bootstrap time in ms.", p.bootstrapMS)
		hist(api.MetricKVTransferAlloc, "Histogram of KV transfer allocation waiting time in ms.", p.allocMS)
	}
}

// engineType is the engine_type label SGLang gives the server's metrics.
func (s *Server) engineType() string {
	if s.pd == nil {
		return "unified"
	}
	return s.pd.cfg.Mode
}

// reserve registers a stream for req before the engine sees it, so that
// the request is the server's (and an abort finds it) while it waits for
// its KV.
func (d *driver) reserve(req Request, received time.Duration) (*stream, error) {
	st := newStream(req, received)
	st.logMetrics = true
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.streams[req.ID] != nil {
		return nil, fmt.Errorf("Duplicate request ID: %s", req.ID)
	}
	d.streams[req.ID] = st
	return st, nil
}

// commit queues a reserved request for the engine; false if it was
// aborted meanwhile.
func (d *driver) commit(st *stream, req Request) bool {
	d.mu.Lock()
	if d.streams[req.ID] != st {
		d.mu.Unlock()
		return false
	}
	st.arrival = req.Arrival
	d.inbox = append(d.inbox, command{add: &req})
	d.mu.Unlock()
	d.wake()
	return true
}

// unreserve forgets a reserved stream whose request never reached the
// engine.
func (d *driver) unreserve(id string, st *stream) {
	d.mu.Lock()
	if d.streams[id] == st {
		delete(d.streams, id)
	}
	d.mu.Unlock()
}

// newStream is a stream for req outside the driver.
func newStream(req Request, received time.Duration) *stream {
	return &stream{promptTokens: req.InputTokens, ready: make(chan struct{}, 1), received: received,
		arrival: req.Arrival, streaming: req.Stream}
}

// failedStream is a stream that has already failed with err.
func failedStream(req Request, received time.Duration, err error) *stream {
	st := newStream(req, received)
	st.fail(err)
	return st
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pdDriver is a PD server's one driver: the simulator refuses data
// parallelism on a PD server (NewServer).
func (s *Server) pdDriver() *driver { return s.ranks[0] }
