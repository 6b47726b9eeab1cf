//go:build !(linux && cgo)

package telemetry

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestOpen_WithoutCgoIsUnavailableAndSaysWhy(t *testing.T) {
	s, err := Open(NVMLOptions{Devices: []int{0}})
	if s != nil {
		t.Errorf("Open returned a sampler %v", s)
	}
	reason, ok := Unavailable(err)
	if !ok || !(strings.Contains(reason, "cgo") || strings.Contains(reason, "Linux")) {
		t.Errorf("Open = %v, want unavailable for want of cgo or Linux", err)
	}
}

func TestCheck_WithoutCgoFailsAsUnavailable(t *testing.T) {
	err := Check(context.Background(), io.Discard, nil, time.Second, 100*time.Millisecond)
	if _, ok := Unavailable(err); !ok {
		t.Errorf("Check = %v, want the unavailable error", err)
	}
}
