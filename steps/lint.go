package steps

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Lint checks feature files without running anything: each file must parse
// and every step of every scenario (outlines expanded) must match exactly
// one sentence of the vocabulary. paths are files or directories (searched
// for *.feature). It returns one problem per line, each starting with
// file:line, and an error only when a path cannot be read.
func Lint(paths []string) ([]string, error) {
	files, err := featureFiles(paths)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, path := range files {
		f, err := readFeature(path)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		seen := map[string]bool{}
		for _, p := range f.pickles {
			for i, w := range f.where(p) {
				text := p.Steps[i].Text
				if seen[w+text] {
					continue
				}
				seen[w+text] = true
				if msg := checkStep(text, w); msg != "" {
					problems = append(problems, msg)
				}
			}
		}
		if len(f.pickles) == 0 {
			problems = append(problems, path+": no scenario")
		}
	}
	return problems, nil
}

// featureFiles expands paths into the .feature files they name, sorted.
func featureFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		p = strings.SplitN(p, ":", 2)[0] // godog's file.feature:LINE form
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".feature") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no .feature file in %s", strings.Join(paths, ", "))
	}
	sort.Strings(out)
	return out, nil
}
