package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium or Chrome binary, or skips the test saying how
// to install one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium: install it to run the dashboard test (Debian: apt-get install chromium; .ci/run does)")
	return ""
}

// The dashboard against the demo's researcher API, in headless Chromium:
// every page loads without console errors or uncaught exceptions and shows
// its data, a query returns rows and the signals chart renders.
func TestDashboardInChromium(t *testing.T) {
	path := chromium(t)
	s := serving(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.DisableGPU,
		chromedp.UserDataDir(profile), chromedp.WindowSize(1366, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+(&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/#token="+s.Token)); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}

	// eval runs a JavaScript expression with a deadline.
	eval := func(expr string, out any) error {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		b, err := chromedp.Run(c, chromedp.Evaluate[[]byte](expr))
		if err != nil {
			return err
		}
		if out != nil {
			return jsonUnmarshal(b, out)
		}
		return nil
	}
	// waitFor polls a JavaScript predicate.
	waitFor := func(what, expr string) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := chromedp.Run(c, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			var text string
			_ = eval(`document.getElementById("main").innerText.slice(0, 500)`, &text)
			t.Fatalf("%s: %v; the page shows:\n%s", what, err, text)
		}
	}
	open := func(hash, page string) {
		t.Helper()
		if err := eval(fmt.Sprintf(`location.hash = %q`, hash), nil); err != nil {
			t.Fatal(err)
		}
		waitFor("page "+page, fmt.Sprintf(`document.getElementById("main").dataset.page === %q && document.getElementById("main").dataset.ready === "1"`, page))
		var errs []string
		if err := eval(`[...document.querySelectorAll("#main .error")].map(e => e.innerText)`, &errs); err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			t.Errorf("page %s shows errors: %v", page, errs)
		}
	}
	count := func(sel string) int {
		t.Helper()
		var n int
		if err := eval(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	open("#/cohorts", "cohorts")
	if n := count("table.cohorts tbody tr"); n != 3 {
		t.Errorf("cohorts page lists %d cohorts, want 3", n)
	}
	if n := count("table.cohorts .badge.ok"); n < 3*3 {
		t.Errorf("cohorts page shows %d verification badges, want signature, ledger and cosignatures for each", n)
	}
	open("#/cohorts?institution=hospital-b", "cohorts")
	if n := count("table.cohorts tbody tr"); n != 1 {
		t.Errorf("search by institution: %d cohorts, want 1", n)
	}
	open("#/cohort/"+fixture.Result.Published[0].Manifest, "cohort")
	if n := count("details"); n < 5 {
		t.Errorf("cohort page shows the schema of %d tables", n)
	}
	open("#/network", "network")
	if n := count("table.members tbody tr"); n != 5 {
		t.Errorf("network page lists %d members, want 5", n)
	}
	open("#/ledger", "ledger")
	if n := count("table.entries tbody tr"); n < len(fixture.Result.Audit) {
		t.Errorf("ledger page lists %d entries, the ledger had %d", n, len(fixture.Result.Audit))
	}
	open("#/query", "query")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#run-query"))); err != nil {
		t.Fatal(err)
	}
	waitFor("query result", `document.querySelectorAll("table.results tbody tr").length > 0`)
	if n := count("table.results tbody tr"); n < 2 {
		t.Errorf("the default query returned %d rows", n)
	}
	open("#/signals", "signals")
	waitFor("signals chart", `document.querySelectorAll("svg.signals-chart circle").length >= 3`)
	var labels string
	_ = eval(`document.querySelector("svg.signals-chart").textContent`, &labels)
	for _, p := range fixture.truth.Signals {
		if !strings.Contains(labels, p.EventName[:8]) {
			t.Errorf("the chart does not show planted %s → %s", p.DrugName, p.EventName)
		}
	}
	if count("table.signals tbody tr") == 0 {
		t.Error("no signals table")
	}
	// Sorting by a header keeps every row.
	before := count("table.signals tbody tr")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`table.signals th[data-key="prr"]`))); err != nil {
		t.Fatal(err)
	}
	if after := count("table.signals tbody tr"); after != before {
		t.Errorf("sorting changed the rows: %d → %d", before, after)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
