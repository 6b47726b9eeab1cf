package runner

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// selfIsBinary is set by the sgltest command: that binary is itself the
// simulator ("sgltest sim"), so scenarios it runs start copies of it.
var selfIsBinary bool

// UseSelfAsBinary tells the runner that the running executable is the
// sgltest binary. Only cmd/sgltest calls it.
func UseSelfAsBinary() { selfIsBinary = true }

// binary returns the path of an sgltest binary to run as the simulator:
// SGLTEST_BIN if set, else the running executable when it is sgltest, else
// one built once per suite with the Go toolchain (go test and godog run
// always have one). The build goes to a fresh directory under the user's
// cache directory, so concurrent test processes never share a half-written
// file, and reports/ holds only run output; Close removes it.
func (s *Suite) binary() (string, error) {
	s.simOnce.Do(func() {
		switch {
		case s.Settings.Binary != "":
			s.simBin = s.Settings.Binary
		case selfIsBinary:
			s.simBin, s.simErr = os.Executable()
		default:
			s.simBin, s.simErr = buildBinary()
			if s.simErr == nil {
				s.builtDir = filepath.Dir(s.simBin)
			}
		}
	})
	return s.simBin, s.simErr
}

func buildBinary() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("building sgltest for the simulator: no cache directory (%v); set %s to an sgltest binary", err, EnvBinary)
	}
	if err := os.MkdirAll(filepath.Join(cache, "sgltest"), 0o755); err != nil {
		return "", fmt.Errorf("building sgltest for the simulator: %w", err)
	}
	dir, err := os.MkdirTemp(filepath.Join(cache, "sgltest"), "bin-")
	if err != nil {
		return "", fmt.Errorf("building sgltest for the simulator: %w", err)
	}
	out := filepath.Join(dir, "sgltest")
	cmd := exec.Command("go", "build", "-o", out, "github.com/sgltest/sgltest/cmd/sgltest")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building sgltest for the simulator (go build): %v: %s; set %s to an sgltest binary instead",
			err, strings.TrimSpace(stderr.String()), EnvBinary)
	}
	return out, nil
}
