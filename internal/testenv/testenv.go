// Package testenv finds what tests need from outside Go: the virtual
// environments with the real SGLang router that `make venv` installs.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Router packages installed by `make venv`, each in its own environment
// (both install a console script named smg).
const (
	SGLangRouter = "sglang-router" // sglang-router 0.3.2: python -m sglang_router.launch_router
	SMG          = "smg"           // smg 1.9.0: python -m smg.launch_router
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
