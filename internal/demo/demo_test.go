package demo

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/node/web"
	"github.com/cohortnet/cohortnet/query"
)

// The one demo every test of the package shares, started in TestMain with
// small populations.
var (
	fixture *Demo
	story   strings.Builder
)

// fixturePatients is small enough for CI and large enough that every planted
// pair pooled over three hospitals is flagged.
const fixturePatients = 1500

func TestMain(m *testing.M) {
	klog.LogToStderr(false) // Tessera's log lines stay out of the test output
	klog.SetOutput(io.Discard)
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run()) // a fuzzing worker runs only the fuzz target: no demo
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	d, err := Run(ctx, Config{Patients: fixturePatients, Seed: 7, Out: &story, UI: web.Handler()})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo fixture: %v\nstory so far:\n%s", err, story.String())
		os.Exit(1)
	}
	fixture = d
	code := m.Run()
	if err := d.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close the demo:", err)
		code = 1
	}
	os.Exit(code)
}

func TestStoryFacts(t *testing.T) {
	r := fixture.Result
	if len(r.Published) != 3 {
		t.Fatalf("published %d datasets, want 3", len(r.Published))
	}
	tiers := map[string]string{}
	for _, p := range r.Published {
		tiers[p.Access] = p.Dataset
		want := []string{"signature", "ledger inclusion"}
		if p.Access != cohort.AccessAggregateOnly {
			want = append(want, "cids")
		}
		if strings.Join(p.Verified, ",") != strings.Join(want, ",") {
			t.Errorf("%s verified %v, want %v", p.Dataset, p.Verified, want)
		}
		if p.Persons < fixturePatients/2 || p.Persons > fixturePatients {
			t.Errorf("%s: %d persons from %d patients", p.Dataset, p.Persons, fixturePatients)
		}
	}
	for _, tier := range []string{cohort.AccessRestricted, cohort.AccessRegistered, cohort.AccessAggregateOnly} {
		if tiers[tier] == "" {
			t.Errorf("no dataset published %s", tier)
		}
	}
	if len(r.Denied) != 1 || r.Denied[0].Access != cohort.AccessAggregateOnly {
		t.Errorf("denied %+v, want the aggregate-only dataset only", r.Denied)
	}
	if len(r.Fetched) != 2 {
		t.Errorf("fetched %d datasets, want 2", len(r.Fetched))
	}
	for _, f := range r.Fetched {
		if f.Bytes <= 0 || f.Files == 0 {
			t.Errorf("fetched %s: %d files, %d bytes", f.Dataset, f.Files, f.Bytes)
		}
	}
	if r.Query == nil || len(r.Query.Rows) != 2 || len(r.Query.Manifests) != 2 {
		t.Fatalf("pooled query %+v: want a row and a manifest per fetched dataset", r.Query)
	}
	// Persons per institution in the pooled query are the published counts.
	for _, row := range r.Query.Rows {
		found := false
		for _, p := range r.Published {
			if p.Institution == row[0] {
				found = true
				if row[1] != fmt.Sprint(p.Persons) {
					t.Errorf("%s: the query counts %s persons, the manifest %d", row[0], row[1], p.Persons)
				}
			}
		}
		if !found {
			t.Errorf("query row for unknown institution %q", row[0])
		}
	}
}

func TestPlantedSignalsFlagged(t *testing.T) {
	r := fixture.Result
	if len(r.Planted) == 0 {
		t.Fatal("no planted pairs")
	}
	// The hospitals' datasets are expert mode: the agency counts
	// self-controlled, not by exposures, which overstates there.
	if r.SignalsBy != query.SourceSelfControlled {
		t.Errorf("signals counted by %q, want %q", r.SignalsBy, query.SourceSelfControlled)
	}
	for _, p := range r.Planted {
		if !p.Flagged {
			t.Errorf("planted %s → %s not flagged (a=%d)", p.DrugName, p.EventName, p.A)
		}
		if p.MinA < 11 {
			t.Errorf("planted %s → %s: a hospital released only %d cases (under the minimum cell count 11 it is suppressed)", p.DrugName, p.EventName, p.MinA)
		}
		if p.A < 3*p.MinA {
			t.Errorf("planted %s → %s: pooled a=%d, smallest per hospital %d: want every hospital to contribute", p.DrugName, p.EventName, p.A, p.MinA)
		}
	}
	planted := 0
	for _, s := range r.Signals {
		if s.Planted {
			planted++
		}
	}
	if planted == 0 {
		t.Errorf("no planted pair among the top signals %+v", r.Signals)
	}
}

func TestAuditTrail(t *testing.T) {
	r := fixture.Result
	count := map[string]int{}
	served := map[string]int64{} // bytes per manifest, from the access entries
	for _, e := range r.Audit {
		count[e.Kind]++
		switch e.Kind {
		case "grant":
			if e.Subject != "research-lab" || e.Author != "hospital-a" {
				t.Errorf("grant %+v: want hospital-a granting research-lab", e)
			}
		case "access":
			if e.Subject != "research-lab" {
				t.Errorf("access %+v: want research-lab as requester", e)
			}
			served[e.Manifest] += e.Bytes
		case "release":
			if e.Subject != "agency" {
				t.Errorf("release %+v: want the agency as recipient", e)
			}
		}
	}
	// Each fetch shows in an access entry of the serving node; nothing of
	// the aggregate-only dataset was served. (Byte totals are not compared:
	// a file two hospitals hold, such as the shared policy, may come from
	// either and count under that one's manifest, or not travel twice.)
	for _, f := range r.Fetched {
		if served[f.Manifest] < f.Bytes/2 {
			t.Errorf("%s: %d bytes fetched, %d in access entries", f.Dataset, f.Bytes, served[f.Manifest])
		}
	}
	for _, p := range r.Published {
		if p.Access == cohort.AccessAggregateOnly && served[p.Manifest] != 0 {
			t.Errorf("%s (aggregate-only): %d bytes served", p.Dataset, served[p.Manifest])
		}
	}
	if count["access"] < 2 {
		t.Errorf("%d access entries, want one per fetch at least", count["access"])
	}
	want := map[string]int{"publish": 3, "request": 3, "grant": 1, "release": 3}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d %s entries, want %d (all: %v)", count[k], k, n, count)
		}
	}
	if r.LedgerSize != uint64(len(r.Audit)) {
		t.Errorf("ledger size %d, audit trail %d entries", r.LedgerSize, len(r.Audit))
	}
	if !strings.Contains(r.Checkpoint, fmt.Sprintf("\n%d\n", r.LedgerSize)) {
		t.Errorf("checkpoint does not cover %d entries:\n%s", r.LedgerSize, r.Checkpoint)
	}
}

func TestStoryText(t *testing.T) {
	s := story.String()
	for _, want := range []string{"published hospital-a/synthetic-ehr", "refused research-lab's fetch", "planted", "the ledger holds", "method self-controlled"} {
		if !strings.Contains(s, want) {
			t.Errorf("the story does not say %q", want)
		}
	}
	for _, p := range fixture.Result.Published {
		if !strings.Contains(s, p.Manifest) {
			t.Errorf("the story does not name manifest %s", p.Manifest)
		}
	}
}
