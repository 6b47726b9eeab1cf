package cluster

// EngineState is what a router sees of one engine when it routes a request.
type EngineState struct {
	// Running and Waiting are the engine's scheduler counts; Waiting also
	// counts requests routed to it that are still in its front end.
	Running, Waiting int
	// UsedTokens and MaxTotalTokens are the KV pool's use and size.
	UsedTokens, MaxTotalTokens int
	// Outstanding is every request routed to the engine and not finished.
	Outstanding int
	// Down is set while the router's health checks see the engine as not
	// serving (Config.Detect says when they notice).
	Down bool
}

// Router picks the engine for a request: the index into engines.
type Router interface {
	Route(req *Request, engines []EngineState) int
}

// RouterFunc adapts a function to Router.
type RouterFunc func(req *Request, engines []EngineState) int

// Route calls f.
func (f RouterFunc) Route(req *Request, engines []EngineState) int { return f(req, engines) }

// RoundRobin returns a router that cycles through the engines in order.
func RoundRobin() Router {
	next := 0
	return RouterFunc(func(_ *Request, engines []EngineState) int {
		i := next % len(engines)
		next = i + 1
		return i
	})
}

// ShortestQueue returns a router that picks the engine with the fewest
// running plus waiting requests, the lowest index on a tie.
func ShortestQueue() Router {
	return RouterFunc(func(_ *Request, engines []EngineState) int {
		best := 0
		for i, e := range engines {
			if e.Running+e.Waiting < engines[best].Running+engines[best].Waiting {
				best = i
			}
		}
		return best
	})
}
