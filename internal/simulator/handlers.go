package simulator

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// version is what /server_info reports: the SGLang release the simulator's
// interfaces follow, marked as simulated.
const version = "0.5.15+sim"

// Version is the SGLang version the simulator reports, for fingerprints.
const Version = version

// maxBodyBytes bounds a /generate body; 64 MiB holds any realistic prompt.
const maxBodyBytes = 64 << 20

// DefaultBodyTimeout bounds reading a request's body, so a client that
// stops sending mid-body cannot hold a handler (and its memory) forever.
// It is set per request rather than as the server's ReadTimeout, which
// would also cut long streamed responses.
const DefaultBodyTimeout = 30 * time.Second

// readBody reads a request body of at most maxBodyBytes within the body
// timeout, then lifts the deadline for the rest of the exchange.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rc := http.NewResponseController(w)
	// A ResponseWriter that cannot set deadlines (a test recorder) reads
	// without one.
	_ = rc.SetReadDeadline(time.Now().Add(s.bodyTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		// The deadline stays: the server would otherwise wait for the rest
		// of the body before answering, and the connection is not reused.
		w.Header().Set("Connection", "close")
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() {
			err = fmt.Errorf("request body not received within %v", s.bodyTimeout)
		}
		return nil, err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return data, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /health_generate", s.handleHealth)
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /model_info", s.handleModelInfo)
	mux.HandleFunc("GET /get_model_info", s.handleModelInfo)
	mux.HandleFunc("GET /server_info", s.handleServerInfo)
	mux.HandleFunc("GET /get_server_info", s.handleServerInfo)
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("GET /v1/models/{model...}", s.handleModel)
	mux.HandleFunc("POST /generate", s.handleGenerate)
	mux.HandleFunc("PUT /generate", s.handleGenerate)
	mux.HandleFunc("POST /v1/completions", s.handleCompletions)
	mux.HandleFunc("POST /v1/chat/completions", s.handleChatCompletions)
	mux.HandleFunc("GET /flush_cache", s.handleFlushCache)
	mux.HandleFunc("POST /flush_cache", s.handleFlushCache)
	mux.HandleFunc("GET /v1/loads", s.handleLoads)
	mux.HandleFunc("GET /get_load", s.handleGetLoad)
	if s.cfg.EnableMetrics {
		mux.HandleFunc("GET /metrics", s.handleMetrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"}) // FastAPI's 404
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Health checks as SGLang runs them (sglang-reference.md s2.1): a check
// waits in steps of defaultHealthPoll (Config.HealthPoll) for any output to
// reach the front end after it began, up to healthTimeout.
const (
	defaultHealthPoll = time.Second
	healthTimeout     = 20 * time.Second
)

// handleHealth answers 503 with an empty body until the server is ready.
// Then, as SGLang's /health and /health_generate, it submits a one-token
// generation (input_ids [0]; the scheduler answers it at once without
// running it while requests are running), checks once a second whether any
// output has reached the front end since the check began, and answers 200
// when one has, or 503 after 20 s.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	tic := s.clock.Now()
	if s.submitHealth("HEALTH_CHECK_"+s.newRID(), tic) != nil {
		<-r.Context().Done() // the server is exiting without an answer
		return
	}
	poll := cmp.Or(s.cfg.HealthPoll, defaultHealthPoll)
	for at := tic + poll; at <= tic+healthTimeout; at += poll {
		if s.clock.SleepUntil(r.Context(), at) != nil {
			return
		}
		if s.lastOutput() > tic {
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (s *Server) handleModelInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.ModelInfo{
		ModelPath:     s.cfg.ModelPath,
		TokenizerPath: s.cfg.ModelPath,
		IsGeneration:  true,
		WeightVersion: weightVersion,
		ModelType:     s.prof.Model.ModelType,
		Architectures: s.prof.Model.Architectures,
	})
}

func (s *Server) modelCard() api.ModelCard {
	return api.ModelCard{
		ID:          s.cfg.ServedModelName,
		Object:      "model",
		Created:     s.created,
		OwnedBy:     api.OwnedBy,
		Root:        s.cfg.ServedModelName,
		MaxModelLen: s.lim.ContextLength,
	}
}

func (s *Server) handleModels(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.ModelList{Object: "list", Data: []api.ModelCard{s.modelCard()}})
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("model")
	if name != s.cfg.ServedModelName {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"message": fmt.Sprintf("The model '%s' does not exist", name),
			"type":    "invalid_request_error", "param": "model", "code": "model_not_found",
		}})
		return
	}
	writeJSON(w, http.StatusOK, s.modelCard())
}

func (s *Server) handleServerInfo(w http.ResponseWriter, _ *http.Request) {
	optional := func(v int) *int {
		if v == 0 {
			return nil
		}
		return &v
	}
	info := api.ServerInfo{
		ModelPath:                  s.cfg.ModelPath,
		TokenizerPath:              s.cfg.ModelPath,
		ServedModelName:            s.cfg.ServedModelName,
		Host:                       s.cfg.Host,
		Port:                       s.cfg.Port,
		TPSize:                     s.cfg.TPSize,
		DPSize:                     len(s.ranks),
		PPSize:                     1,
		MaxRunningRequests:         optional(s.cfg.MaxRunningRequests),
		MaxTotalTokens:             optional(s.cfg.MaxTotalTokens),
		MaxPrefillTokens:           cmpOr(s.cfg.MaxPrefillTokens, defaultMaxPrefillTokens),
		ChunkedPrefillSize:         s.lim.ChunkedPrefillSize,
		ContextLength:              optional(s.cfg.ContextLength),
		MemFractionStatic:          s.lim.MemFractionStatic,
		SchedulePolicy:             s.lim.SchedulePolicy,
		StreamInterval:             s.lim.StreamInterval,
		IncrementalStreamingOutput: s.cfg.IncrementalStreamingOutput,
		EnableMetrics:              s.cfg.EnableMetrics,
		RandomSeed:                 s.cfg.RandomSeed,
		PageSize:                   1,
		SkipServerWarmup:           s.cfg.SkipServerWarmup,
		Status:                     "ready",
		MaxTotalNumTokens:          s.lim.MaxTotalTokens,
		MaxReqInputLen:             s.lim.MaxReqInputLen,
		InternalStates:             s.internalStates(),
		Version:                    version,
		Simulator:                  &api.SimulatorInfo{Profile: s.prof.Name, GPU: s.prof.GPU.Name, Description: s.prof.Description},
	}
	// SGLang merges every ServerArgs field into /server_info; these are the
	// simulator's flags api.ServerInfo does not carry.
	writeJSON(w, http.StatusOK, struct {
		api.ServerInfo
		EnableCacheReport        bool    `json:"enable_cache_report"`
		MaxQueuedRequests        *int    `json:"max_queued_requests"`
		DisableRadixCache        bool    `json:"disable_radix_cache"`
		ScheduleConservativeness float64 `json:"schedule_conservativeness"`
		DisableOverlapSchedule   bool    `json:"disable_overlap_schedule"`
		DisableCUDAGraph         bool    `json:"disable_cuda_graph"`
		CUDAGraphMaxBS           int     `json:"cuda_graph_max_bs"`
		AttentionBackend         string  `json:"attention_backend"`
		LoadBalanceMethod        string  `json:"load_balance_method"`
		DisaggregationMode       string  `json:"disaggregation_mode"`
		BootstrapPort            int     `json:"disaggregation_bootstrap_port"`
		TransferBackend          string  `json:"disaggregation_transfer_backend"`
	}{info, s.cfg.EnableCacheReport, optional(s.cfg.MaxQueuedRequests), s.lim.DisableRadixCache, s.lim.ScheduleConservativeness,
		!s.lim.OverlapSchedule, s.cfg.DisableCUDAGraph, s.lim.CUDAGraphMaxBS, s.lim.AttentionBackend, s.dp.method,
		cmp.Or(s.cfg.Disaggregation.Mode, ModeNull), s.cfg.Disaggregation.port(), s.cfg.Disaggregation.backend()})
}

func (s *Server) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	var b bytes.Buffer
	s.writeMetrics(&b)
	// prometheus_client's text format 0.0.4 content type.
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// generateBody is POST /generate's body. Fields stay raw until validated so
// presence, null and type can be told apart as SGLang tells them.
type generateBody struct {
	Text           json.RawMessage `json:"text"`
	InputIDs       json.RawMessage `json:"input_ids"`
	SamplingParams json.RawMessage `json:"sampling_params"`
	Stream         bool            `json:"stream"`
	RID            *string         `json:"rid"`
	bootstrapFields
}

// valueError is what SGLang raises as ValueError in its tokenizer manager:
// 400 {"error":{"message":...}} for a plain request, an in-stream error
// event for a streamed one. With crash set it stands for another exception,
// which /generate does not catch: a plain request gets Starlette's 500
// "Internal Server Error", a streamed one a 200 stream cut off without
// [DONE].
type valueError struct {
	msg   string
	crash bool
}

func (e *valueError) Error() string { return e.msg }

func valueErrorf(format string, args ...any) *valueError {
	return &valueError{msg: fmt.Sprintf(format, args...)}
}

// abortError is a request the scheduler aborted with an HTTP status, e.g.
// 503 when the waiting queue is full: an ErrorResponse with that status for
// a plain request, a finish_reason "abort" chunk inside a 200 stream.
type abortError struct {
	status int
	msg    string
}

func (e *abortError) Error() string { return e.msg }

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	received := s.clock.Now()
	ctx := r.Context()
	var body generateBody
	data, err := s.readBody(w, r)
	if err == nil {
		err = json.Unmarshal(data, &body)
	}
	if err != nil {
		// Schema errors fail before any generation code runs: FastAPI's
		// validation body, turned into 400 by SGLang.
		writeJSON(w, http.StatusBadRequest, api.ErrorResponse{
			Object: "error", Message: err.Error(), Type: "Bad Request", Code: http.StatusBadRequest,
		})
		return
	}

	var sse *sseWriter
	if body.Stream {
		// SGLang returns the streaming response at once; every later error
		// travels inside it.
		sse = newSSEWriter(w)
	}
	req, verr := s.parseGenerate(body)
	if verr != nil {
		s.writeValueError(w, sse, verr)
		return
	}
	st, err := s.enqueue(ctx, received, req)
	if err != nil {
		if ctx.Err() == nil {
			s.writeValueError(w, sse, &valueError{msg: err.Error()})
		}
		return
	}

	gen := newTokenGen(s.cfg.RandomSeed, req.ID, int(s.prof.Model.VocabSize.Value))
	sent := 0 // tokens in earlier chunks
	respond := func(state streamState) api.GenerateResponse {
		s.extendOutput(gen, state)
		resp := api.GenerateResponse{
			Text:      gen.text.String(),
			OutputIDs: gen.ids[:state.generated],
			MetaInfo: api.MetaInfo{
				ID:               req.ID,
				PromptTokens:     req.InputTokens,
				CompletionTokens: state.generated,
				CachedTokens:     state.cachedTokens,
				WeightVersion:    weightVersion,
				NumRetractions:   state.retractions,
			},
		}
		if sse != nil && s.cfg.IncrementalStreamingOutput {
			resp.Text, resp.OutputIDs = gen.textBetween(sent, state.generated), gen.ids[sent:state.generated]
		}
		if state.finished {
			resp.MetaInfo.FinishReason = &api.FinishReason{Type: state.finishReason, Length: state.generated}
			if state.finishReason == api.FinishStop {
				resp.MetaInfo.FinishReason = &api.FinishReason{Type: api.FinishStop, Matched: s.tok.eos}
			}
			e2e := (s.clock.Now() - received).Seconds()
			resp.MetaInfo.E2ELatency = &e2e
		}
		return resp
	}

	if sse == nil {
		state, err := st.wait(ctx)
		var abort *abortError
		switch {
		case ctx.Err() != nil:
			s.abort(req.ID)
		case errors.As(err, &abort):
			writeJSON(w, abort.status, abortResponse(abort))
		case err != nil:
			s.writeValueError(w, nil, &valueError{msg: err.Error()})
		default:
			writeJSON(w, http.StatusOK, respond(state))
		}
		return
	}

	last := -1
	for {
		select {
		case <-st.ready:
		case <-ctx.Done():
			s.abort(req.ID)
			return
		}
		state := st.state()
		var abort *abortError
		if errors.As(state.err, &abort) {
			// A scheduler abort is an ordinary chunk whose finish_reason
			// says why.
			resp := respond(streamState{})
			resp.MetaInfo.FinishReason = &api.FinishReason{Type: api.FinishAbort, Message: abort.msg, StatusCode: abort.status}
			if sse.event(resp) == nil {
				_ = sse.done()
			}
			return
		}
		if state.err != nil {
			s.writeValueError(w, sse, &valueError{msg: state.err.Error()})
			return
		}
		if state.generated == last && !state.finished {
			continue
		}
		if err := sse.event(respond(state)); err != nil {
			s.abort(req.ID)
			return
		}
		last, sent = state.generated, state.generated
		if state.finished {
			_ = sse.done()
			return
		}
	}
}

// weightVersion is what meta_info and /model_info report without
// --weight-version: SGLang's default.
const weightVersion = "default"

// extendOutput grows gen to state's tokens; a response that stopped at EOS
// ends with the EOS token, whose text is empty.
func (s *Server) extendOutput(gen *tokenGen, state streamState) {
	if state.finished && state.finishReason == api.FinishStop {
		gen.endWithEOS(state.generated, s.tok.eos)
		return
	}
	gen.extend(state.generated)
}

// abortResponse is the ErrorResponse SGLang returns for a scheduler abort
// of a plain request; its type is the status code.
func abortResponse(e *abortError) api.ErrorResponse {
	return api.ErrorResponse{Object: "error", Message: e.msg, Type: strconv.Itoa(e.status), Code: e.status}
}

func (s *Server) writeValueError(w http.ResponseWriter, sse *sseWriter, e *valueError) {
	if e.crash {
		if sse != nil {
			panic(http.ErrAbortHandler) // net/http closes the connection mid-stream
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "Internal Server Error")
		return
	}
	if sse == nil {
		writeJSON(w, http.StatusBadRequest, api.StreamError{Error: api.ErrorDetail{Message: e.msg}})
		return
	}
	retryable := false
	if sse.event(api.StreamError{Error: api.ErrorDetail{
		Message: e.msg, Type: "invalid_request_error", Code: http.StatusBadRequest, Retryable: &retryable,
	}}) == nil {
		_ = sse.done()
	}
}

// parseGenerate applies SGLang's checks in SGLang's order: prompt presence
// and form, prompt against the context, prompt plus max_new_tokens against
// the context, then the sampling parameters themselves.
func (s *Server) parseGenerate(b generateBody) (Request, *valueError) {
	hasText, hasIDs := present(b.Text), present(b.InputIDs)
	if hasText == hasIDs {
		return Request{}, valueErrorf("Either text, input_ids or input_embeds should be provided.")
	}
	var input int
	var ids []int
	if hasText {
		var text string
		if err := json.Unmarshal(b.Text, &text); err != nil {
			return Request{}, valueErrorf("text must be one string: batch requests are not simulated")
		}
		ids = s.tok.prompt(text)
		input = len(ids)
	} else {
		if err := json.Unmarshal(b.InputIDs, &ids); err != nil {
			return Request{}, valueErrorf("input_ids must be one list of token ids: batch requests are not simulated")
		}
		if len(ids) == 0 {
			return Request{}, valueErrorf("input_ids must not be empty")
		}
		vocab := int(s.prof.Model.VocabSize.Value)
		if slices.ContainsFunc(ids, func(id int) bool { return id < 0 || id >= vocab }) {
			return Request{}, valueErrorf("The input_ids %v contains values greater than the vocab size (%d).", ids, vocab)
		}
		input = len(ids)
	}
	if verr := s.checkContext(input); verr != nil {
		return Request{}, verr
	}
	sp, maxNew, verr := parseSamplingParams(b.SamplingParams)
	if verr != nil {
		return Request{}, verr
	}
	if verr := s.checkLimits(input, sp.SamplingParams, maxNew); verr != nil {
		return Request{}, verr
	}
	rid := ""
	if b.RID != nil {
		rid = *b.RID
	}
	req := s.newRequest(rid, input, maxNew, sp, b.Stream)
	req.InputIDs = ids
	if req.Bootstrap, verr = b.parse(); verr != nil {
		return Request{}, verr
	}
	return req, nil
}

// checkContext rejects a prompt as long as the context, SGLang's first
// length check.
func (s *Server) checkContext(input int) *valueError {
	if ctxLen := s.lim.ContextLength; input >= ctxLen {
		return valueErrorf("The input (%d tokens) is longer than the model's context length (%d tokens).", input, ctxLen)
	}
	return nil
}

// checkLimits applies SGLang's checks after the sampling parameters are
// known, in SGLang's order: prompt plus max_new_tokens against the context,
// the parameters' ranges, then the prompt against max_req_input_len.
func (s *Server) checkLimits(input int, sp api.SamplingParams, maxNew int) *valueError {
	ctxLen := s.lim.ContextLength
	if sp.MaxNewTokens != nil && *sp.MaxNewTokens+input >= ctxLen {
		return valueErrorf("Requested token count exceeds the model's maximum context length of %d tokens. "+
			"You requested a total of %d tokens: %d tokens from the input messages and %d tokens for the completion. "+
			"Please reduce the number of tokens in the input messages or the completion to fit within the limit.",
			ctxLen, *sp.MaxNewTokens+input, input, *sp.MaxNewTokens)
	}
	if verr := verifySamplingParams(sp, maxNew); verr != nil {
		return verr
	}
	if input > s.lim.MaxReqInputLen {
		return valueErrorf("Input length (%d tokens) exceeds the maximum allowed length (%d tokens). "+
			"Use a shorter input or enable --allow-auto-truncate.", input, s.lim.MaxReqInputLen)
	}
	return nil
}

// newRequest builds the engine request, naming it rid or a fresh id.
// Without ignore_eos it may stop at EOS: at the length custom_params'
// sgltest_eos_after gives (a dataset's reference output), or at one drawn
// from the profile.
func (s *Server) newRequest(rid string, input, maxNew int, sp samplingParams, stream bool) Request {
	if rid == "" {
		rid = s.newRID()
	}
	interval := 0
	if sp.StreamInterval != nil {
		interval = *sp.StreamInterval
	}
	req := Request{ID: rid, InputTokens: input, MaxNewTokens: maxNew, Stream: stream, StreamInterval: interval,
		StopAtEOS: !sp.IgnoreEOS, EOSAfter: sp.eosAfter}
	if sp.MinNewTokens != nil {
		req.MinNewTokens = *sp.MinNewTokens
	}
	return req
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// samplingKeys are the keys SGLang's SamplingParams accepts: those of
// api.SamplingParams plus ones the simulator accepts and ignores because
// they change only content, not timing.
var samplingKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeFor[api.SamplingParams]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		keys[name] = true
	}
	for _, k := range []string{
		"stop_regex", "spaces_between_special_tokens", "no_stop_trim", "json_schema", "regex",
		"ebnf", "structural_tag", "custom_params", "logit_bias", "sampling_seed",
	} {
		keys[k] = true
	}
	return keys
}()

// samplingParams are the sampling parameters the simulator reads: SGLang's,
// and from custom_params the response's natural length.
type samplingParams struct {
	api.SamplingParams
	// eosAfter is custom_params' sgltest_eos_after: without ignore_eos,
	// the response stops at EOS after this many tokens (a dataset's
	// reference output length); 0 draws the length from the profile.
	eosAfter int
}

// eosAfterKey is the custom_params key that sets a response's natural
// length. Real SGLang keeps custom_params for custom logit processors and
// ignores keys none reads, so a client may send it to either.
const eosAfterKey = "sgltest_eos_after"

// parseCustomParams reads eosAfterKey from a custom_params object.
func parseCustomParams(raw json.RawMessage) (int, *valueError) {
	if !present(raw) {
		return 0, nil
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil {
		return 0, valueErrorf("custom_params must be an object: %v", err)
	}
	v, ok := params[eosAfterKey]
	if !ok {
		return 0, nil
	}
	var n int
	if err := json.Unmarshal(v, &n); err != nil || n < 1 {
		return 0, valueErrorf("custom_params.%s must be a positive integer, got %s", eosAfterKey, v)
	}
	return n, nil
}

// parseSamplingParams decodes sampling_params and returns them with the
// effective max_new_tokens: the default when absent, -1 (unbounded, clamped
// later by the engine) when null. An unknown key is the TypeError SGLang's
// SamplingParams(**params) raises, which /generate does not catch.
func parseSamplingParams(raw json.RawMessage) (samplingParams, int, *valueError) {
	var sp samplingParams
	if !present(raw) {
		return sp, api.DefaultMaxNewTokens, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return sp, 0, valueErrorf("sampling_params must be one object: batch requests are not simulated")
	}
	var unknown []string
	for k := range fields {
		if !samplingKeys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return sp, 0, &valueError{msg: fmt.Sprintf("SamplingParams.__init__() got an unexpected keyword argument '%s'", unknown[0]), crash: true}
	}
	var verr *valueError
	if sp.eosAfter, verr = parseCustomParams(fields["custom_params"]); verr != nil {
		return sp, 0, verr
	}
	// stop may be one string or a list of them.
	if stop, ok := fields["stop"]; ok && len(bytes.TrimSpace(stop)) > 0 && bytes.TrimSpace(stop)[0] == '"' {
		fields["stop"] = append(append([]byte{'['}, stop...), ']')
	}
	normalized, err := json.Marshal(fields)
	if err == nil {
		err = json.Unmarshal(normalized, &sp.SamplingParams)
	}
	if err != nil {
		return sp, 0, valueErrorf("Invalid sampling_params: %v", err)
	}
	maxNew := api.DefaultMaxNewTokens
	switch {
	case sp.MaxNewTokens != nil:
		maxNew = *sp.MaxNewTokens
	case fields["max_new_tokens"] != nil:
		maxNew = -1 // explicit null: unbounded
	}
	return sp, maxNew, nil
}

// verifySamplingParams applies SamplingParams.verify's range checks.
func verifySamplingParams(sp api.SamplingParams, maxNew int) *valueError {
	switch {
	case sp.Temperature != nil && *sp.Temperature < 0:
		return valueErrorf("temperature must be non-negative, got %v.", *sp.Temperature)
	case sp.TopP != nil && (*sp.TopP <= 0 || *sp.TopP > 1):
		return valueErrorf("top_p must be in (0, 1], got %v.", *sp.TopP)
	case sp.MinP != nil && (*sp.MinP < 0 || *sp.MinP > 1):
		return valueErrorf("min_p must be in [0, 1], got %v.", *sp.MinP)
	case sp.TopK != nil && *sp.TopK < 1 && *sp.TopK != -1:
		return valueErrorf("top_k must be -1 (disable), or at least 1, got %v.", *sp.TopK)
	case sp.FrequencyPenalty != nil && (*sp.FrequencyPenalty < -2 || *sp.FrequencyPenalty > 2):
		return valueErrorf("frequency_penalty must be in [-2, 2], got %v.", *sp.FrequencyPenalty)
	case sp.PresencePenalty != nil && (*sp.PresencePenalty < -2 || *sp.PresencePenalty > 2):
		return valueErrorf("presence_penalty must be in [-2, 2], got %v.", *sp.PresencePenalty)
	case sp.RepetitionPenalty != nil && (*sp.RepetitionPenalty <= 0 || *sp.RepetitionPenalty > 2):
		return valueErrorf("repetition_penalty must be in (0, 2], got %v.", *sp.RepetitionPenalty)
	case sp.MaxNewTokens != nil && *sp.MaxNewTokens < 0:
		return valueErrorf("max_new_tokens must be at least 0, got %v.", *sp.MaxNewTokens)
	case sp.MinNewTokens != nil && (*sp.MinNewTokens < 0 || (maxNew >= 0 && *sp.MinNewTokens > maxNew)):
		return valueErrorf("min_new_tokens must be in [0, max_new_tokens], got %v.", *sp.MinNewTokens)
	case sp.StreamInterval != nil && *sp.StreamInterval < 1:
		return valueErrorf("stream_interval must be at least 1, got %v.", *sp.StreamInterval)
	case sp.N != nil && *sp.N != 1:
		return valueErrorf("n=%d is not simulated: send n separate requests", *sp.N)
	}
	return nil
}

// sseWriter writes SGLang's event stream, flushing after every event so
// each chunk leaves when it is produced.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	// Starlette appends the charset to every text/* media type.
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	return &sseWriter{w: w, rc: rc}
}

func (s *sseWriter) event(v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := api.WriteEvent(s.w, payload); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseWriter) done() error {
	if err := api.WriteDone(s.w); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseWriter) flush() error {
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
