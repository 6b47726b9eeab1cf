package report

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Environment of the browser check.
const (
	// envRequireBrowser makes a missing Chromium a failure instead of a
	// skip (CI sets it after installing Chromium).
	envRequireBrowser = "SGLTEST_REQUIRE_BROWSER"
	// envChromium names the browser binary; default: chromium, then
	// chromium-browser, google-chrome on PATH.
	envChromium = "SGLTEST_CHROMIUM"
	// envBrowserReports adds report.html files to check, as a glob (e.g.
	// "reports/*/report.html" after a run of the features).
	envBrowserReports = "SGLTEST_BROWSER_REPORTS"
)

// browserCheck is injected at the top of a copy of a report page: it
// records script errors, resources that fail to load and console errors,
// and once the page has loaded checks that every image decoded and that
// each chart has its data drawn (coloured pixels: axes, grid and text are
// grey), then writes what it found into the page for --dump-dom.
const browserCheck = `<script>
window.__problems = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  if (t && t !== window && t.tagName) { __problems.push('failed to load ' + t.tagName + ' ' + String(t.src || t.href || '').slice(0, 60)); }
  else { __problems.push('script error: ' + e.message); }
}, true);
console.error = function () { __problems.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); };
window.addEventListener('load', function () {
  var imgs = document.images, charts = 0;
  for (var i = 0; i < imgs.length; i++) {
    var im = imgs[i];
    if (!im.complete || im.naturalWidth === 0) { __problems.push('broken image: ' + (im.alt || i)); continue; }
    if (!im.classList.contains('chart')) continue;
    charts++;
    var c = document.createElement('canvas');
    c.width = im.naturalWidth; c.height = im.naturalHeight;
    var g = c.getContext('2d'), d;
    g.drawImage(im, 0, 0);
    try { d = g.getImageData(0, 0, c.width, c.height).data; }
    catch (err) { __problems.push('cannot read the pixels of ' + im.alt + ': ' + err); continue; }
    var coloured = 0;
    for (var k = 0; k < d.length; k += 4) {
      if (Math.max(d[k], d[k + 1], d[k + 2]) - Math.min(d[k], d[k + 1], d[k + 2]) > 40) coloured++;
    }
    if (coloured < c.width * c.height / 1000) __problems.push('empty chart: ' + im.alt + ' (' + coloured + ' coloured pixels)');
  }
  var out = document.createElement('pre');
  out.id = 'sgltest-check';
  out.textContent = JSON.stringify({problems: __problems, charts: charts, images: imgs.length, title: document.title});
  document.body.appendChild(out);
});
</script>`

// chromium finds the browser, or skips (fails when required).
func chromium(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	if v := os.Getenv(envChromium); v != "" {
		names = []string{v}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := "Chromium is not installed (apt-get install chromium), so report.html was not opened in a browser"
	if os.Getenv(envRequireBrowser) == "1" {
		t.Fatalf("%s, and %s=1 requires it", msg, envRequireBrowser)
	}
	t.Skip(msg + "; set " + envRequireBrowser + "=1 to make this a failure")
	return ""
}

type browserResult struct {
	Problems []string `json:"problems"`
	Charts   int      `json:"charts"`
	Images   int      `json:"images"`
	Title    string   `json:"title"`
}

// openInBrowser loads page (a report.html) in headless Chromium with the
// check injected and returns what the check found.
func openInBrowser(t *testing.T, bin, page string) browserResult {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	at := strings.Index(src, "<head>")
	if at < 0 {
		t.Fatalf("%s has no <head>", page)
	}
	at += len("<head>")
	// The copy sits beside the page, so that its relative links resolve
	// the same.
	check := filepath.Join(filepath.Dir(page), ".browser-check.html")
	if err := os.WriteFile(check, []byte(src[:at]+browserCheck+src[at:]), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(check)
	abs, err := filepath.Abs(check)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Flags for a closed network and a root user: see the machine notes.
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--dump-dom", "file://"+abs)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chromium: %v\n%s", err, stderr)
	}
	m := regexp.MustCompile(`(?s)<pre id="sgltest-check">(.*?)</pre>`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the page's check never ran (a script error before load?); the DOM ends:\n%s", tail(string(out), 2000))
	}
	var res browserResult
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &res); err != nil {
		t.Fatalf("the check's result %q: %v", m[1], err)
	}
	return res
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestReportPageOpensInABrowserWithEveryChartDrawn(t *testing.T) {
	bin := chromium(t)
	res, _ := recordedRun(t, t.TempDir(), "20261123-195501.000-browser", 3)
	pages := []string{filepath.Join(res.Dir, HTMLFile)}
	if g := os.Getenv(envBrowserReports); g != "" {
		more, err := filepath.Glob(g)
		if err != nil || len(more) == 0 {
			t.Fatalf("%s=%q matches no report (%v)", envBrowserReports, g, err)
		}
		pages = append(pages, more...)
	}
	for _, page := range pages {
		got := openInBrowser(t, bin, page)
		if len(got.Problems) > 0 {
			t.Errorf("%s in Chromium:\n  %s", page, strings.Join(got.Problems, "\n  "))
		}
		if got.Charts == 0 || got.Charts != got.Images {
			t.Errorf("%s: %d charts of %d images drawn", page, got.Charts, got.Images)
		}
		if page == pages[0] && got.Charts != len(res.Charts) {
			t.Errorf("%s: %d charts in the browser, %d written", page, got.Charts, len(res.Charts))
		}
		t.Logf("%s: %d charts, title %q", page, got.Charts, got.Title)
	}
}

func TestBrowserCheckCatchesABrokenImageAndAnEmptyChart(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	run := &Run{dir: dir}
	empty, err := BuildCharts(ChartData{Store: storeOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := run.WriteCharts(empty[:1])
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, HTMLFile)
	doc := `<!DOCTYPE html><html><head><title>t</title></head><body>
<img class="chart" alt="no data at all" src="data:image/png;base64,` + base64.StdEncoding.EncodeToString(b) + `">
<img class="chart" alt="missing" src="missing.png">
</body></html>`
	if err := os.WriteFile(page, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	got := openInBrowser(t, bin, page)
	joined := strings.Join(got.Problems, "\n")
	for _, want := range []string{"empty chart: no data at all", "broken image: missing"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems %q lack %q", got.Problems, want)
		}
	}
}
