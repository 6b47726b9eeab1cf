package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// Router packages installed by `make venv`, each in its own environment
// (both install a console script named smg).
const (
	SGLangRouter = "sglang-router" // sglang-router 0.3.2: python -m sglang_router.launch_router
	SMG          = "smg"           // smg (the release the Makefile pins): python -m smg.launch_router
)

// EnvRequireRouter, when set (make test sets it), turns a missing router
// environment into a test failure instead of a skip.
const EnvRequireRouter = "SGLTEST_REQUIRE_ROUTER"

// RouterPython returns the interpreter of the virtual environment holding
// pkg, under <module root>/.venv/<pkg>. When it is missing the test is
// skipped with the command that installs it, or fails if the run requires
// the router.
func RouterPython(t testing.TB, pkg string) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	py := filepath.Join(root, ".venv", pkg, "bin", "python")
	if _, err := os.Stat(filepath.Join(root, ".venv", pkg, ".installed")); err != nil {
		msg := "the real router (" + pkg + ") is not installed: run `make venv` at " + root
		if os.Getenv(EnvRequireRouter) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

// ModuleRoot returns the directory holding go.mod, searching up from the
// working directory (a test's working directory is its package's).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// buildOnce builds the sgltest binary (whose sim subcommand is the
// simulator) once per test binary, into a temporary directory that
// RemoveBinary deletes.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sgltest-bin-")
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

var built atomic.Bool

// Binary returns the sgltest binary, built on first use.
func Binary(t testing.TB) string {
	t.Helper()
	built.Store(true)
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// RemoveBinary deletes the binary Binary built, if it built one; call it
// from TestMain after m.Run.
func RemoveBinary() {
	if !built.Load() {
		return
	}
	if bin, err := buildOnce(); err == nil {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
}
