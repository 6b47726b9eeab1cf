package simtest

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/testenv"
)

// Simulators starts n simulators with l (the caller stops them with
// l.StopAll at cleanup) and returns their URLs. Simulator i is seeded i+1
// and serves servedModel; the model path is a local directory, so a router
// looks for a tokenizer there instead of on the Hugging Face hub.
func Simulators(t testing.TB, l *launcher.Launcher, n int, servedModel string) []string {
	t.Helper()
	bin := testenv.Binary(t)
	model := t.TempDir()
	urls := make([]string, n)
	for i := range urls {
		s, err := l.Start(t.Context(), launcher.Config{
			Name: fmt.Sprintf("sim-%d", i), Backend: launcher.BackendSim, ModelPath: model, SimBinary: bin,
			ExtraArgs: []string{"--served-model-name", servedModel, "--random-seed", strconv.Itoa(i + 1)},
		})
		if err != nil {
			t.Fatal(err)
		}
		urls[i] = s.URL()
	}
	return urls
}
