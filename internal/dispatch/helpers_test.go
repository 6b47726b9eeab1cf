package dispatch_test

import (
	"os"
	"testing"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/simtest"
	"github.com/sgltest/sgltest/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinary()
	os.Exit(code)
}

// startSimulators launches n simulators with one launcher, returned so the
// caller can start a router with it too; everything stops at cleanup.
func startSimulators(t *testing.T, n int) (*launcher.Launcher, []string) {
	t.Helper()
	l := launcher.New(t.TempDir(), nil)
	t.Cleanup(func() {
		if err := l.StopAll(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	return l, simtest.Simulators(t, l, n, "sim-model")
}
