// Package routermetrics reads the real SGLang router's own Prometheus
// metrics (sglang-router 0.3.2 and smg serve them on their separate
// --prometheus-host:--prometheus-port listener at /metrics, all named
// smg_*; router-reference.md s6) into the figures a load-test report
// needs: requests routed and their outcomes, retries, the router's own
// latency, and per worker the requests it was sent, its health and its
// circuit breaker.
//
// Reading guide: sample.go has Sample (what one scrape holds), Parse and
// Scrape, and Sub for the counts between two scrapes. The package test
// parses recorded expositions of both routers; internal/simulator/routertest
// scrapes the real routers in front of simulators.
package routermetrics
