package dispatch_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sgltest/sgltest/internal/launcher"
)

// buildOnce builds the sgltest binary, whose sim subcommand is the
// simulator, once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sgltest-dispatch-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sgltest")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sgltest/sgltest/cmd/sgltest").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// built is set once a test has built the binary, so TestMain removes it
// without building it for runs (benchmarks) that never needed it.
var built atomic.Bool

func TestMain(m *testing.M) {
	code := m.Run()
	if built.Load() {
		if bin, err := buildOnce(); err == nil {
			_ = os.RemoveAll(filepath.Dir(bin))
		}
	}
	os.Exit(code)
}

// startSimulators launches n simulators with one launcher, returned so the
// caller can start a router with it too; everything stops at cleanup.
func startSimulators(t *testing.T, n int) (*launcher.Launcher, []string) {
	t.Helper()
	built.Store(true)
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	l := launcher.New(t.TempDir(), nil)
	t.Cleanup(func() {
		if err := l.StopAll(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	// A local directory as the model path keeps the router off the hub.
	model := t.TempDir()
	urls := make([]string, n)
	for i := range urls {
		s, err := l.Start(t.Context(), launcher.Config{
			Name: fmt.Sprintf("sim-%d", i), Backend: launcher.BackendSim, ModelPath: model, SimBinary: bin,
			ExtraArgs: []string{"--served-model-name", "sim-model", "--random-seed", strconv.Itoa(i + 1)},
		})
		if err != nil {
			t.Fatal(err)
		}
		urls[i] = s.URL()
	}
	return l, urls
}
