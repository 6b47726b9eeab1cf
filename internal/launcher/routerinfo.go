package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

// RouterInfo is what the installed router says about itself: its release
// and the --policy choices its launcher accepts.
type RouterInfo struct {
	// Package is the PyPI distribution: sglang-router or smg.
	Package string `json:"package"`
	// Version is the installed release, e.g. 0.3.2 or 1.13.0.
	Version string `json:"version"`
	// Policies are the --policy choices, in the order --help lists them.
	Policies []string `json:"policies"`
}

// HasPolicy reports whether the router accepts name as --policy.
func (i RouterInfo) HasPolicy(name string) bool { return slices.Contains(i.Policies, name) }

// CheckPolicy returns nil when the router accepts name as --policy, and
// otherwise an error naming the router, its release and the accepted names.
func (i RouterInfo) CheckPolicy(name string) error {
	if i.HasPolicy(name) {
		return nil
	}
	return fmt.Errorf("%s %s has no routing policy %q; its --policy accepts: %s",
		i.Package, i.Version, name, strings.Join(i.Policies, ", "))
}

// routerPackage is the PyPI distribution that installs each launch module.
var routerPackage = map[string]string{
	RouterModuleSGLang: "sglang-router",
	RouterModuleSMG:    "smg",
}

// inspectTimeout bounds each of the two interpreter runs InspectRouter
// makes; both take well under a second.
const inspectTimeout = 30 * time.Second

// InspectRouter asks the router installed for python (module is
// RouterModuleSGLang or RouterModuleSMG; empty means RouterModuleSGLang)
// for its release and its --policy choices, parsed from its own --help, so
// that a policy name can be checked before anything starts.
func InspectRouter(ctx context.Context, python, module string) (RouterInfo, error) {
	if module == "" {
		module = RouterModuleSGLang
	}
	pkg, ok := routerPackage[module]
	if !ok {
		return RouterInfo{}, fmt.Errorf("inspecting the router: module %q: want %s or %s", module, RouterModuleSGLang, RouterModuleSMG)
	}
	if python == "" {
		return RouterInfo{}, errors.New("inspecting the router: empty interpreter path")
	}
	help, err := runQuiet(ctx, python, "-m", module, "--help")
	if err != nil {
		return RouterInfo{}, fmt.Errorf("inspecting %s: %w", pkg, err)
	}
	policies, err := ParsePolicyChoices(help)
	if err != nil {
		return RouterInfo{}, fmt.Errorf("inspecting %s (%s -m %s --help): %w", pkg, python, module, err)
	}
	version, err := runQuiet(ctx, python, "-c", "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))", pkg)
	if err != nil {
		return RouterInfo{}, fmt.Errorf("inspecting %s's version: %w", pkg, err)
	}
	return RouterInfo{Package: pkg, Version: strings.TrimSpace(version), Policies: policies}, nil
}

// runQuiet runs argv (never through a shell) and returns its stdout; a
// failure carries the end of its stderr.
func runQuiet(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return "", fmt.Errorf("%s: %w\n%s", quoteArgv(argv), err, tail)
	}
	return stdout.String(), nil
}

// policyChoices matches argparse's rendering of the --policy option with
// its choices, "--policy {random,round_robin,...}".
var policyChoices = regexp.MustCompile(`--policy \{([a-z0-9_,]+)\}`)

// ParsePolicyChoices returns the --policy choices from a router launcher's
// --help text, in their order. It fails when the text lists none.
func ParsePolicyChoices(help string) ([]string, error) {
	m := policyChoices.FindStringSubmatch(help)
	if m == nil {
		return nil, errors.New("no --policy {...} choices in the --help text")
	}
	return strings.Split(m[1], ","), nil
}
