package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/query"
)

// The API asks for the token, lists cohorts with their status, grants, runs
// a fetch job to the end and queries the fetched rows, as the command line
// and the notebooks use it.
func TestAPI(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	a, lab := nw.hospA, nw.lab

	fi, err := os.Stat(a.d.Join(datadir.TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("api token file: %v %v", fi, err)
	}
	resp, err := http.Get("http://" + a.node.APIAddr() + "/api/v1/cohorts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %s", resp.Status)
	}
	resp, err = http.Get("http://" + a.node.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(metrics.String(), "cohortnet_split_views_total") {
		t.Errorf("/metrics: %s", resp.Status)
	}

	ca, err := Dial(ctx, a.d)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := Dial(ctx, lab.d)
	if err != nil {
		t.Fatal(err)
	}
	p := publish(t, a, "api-study", cohort.AccessRestricted, 1234)
	eventually(t, 15*time.Second, "the lab's API lists the dataset anchored", func() bool {
		var cs []Cohort
		if err := cl.Do(ctx, "GET", "/api/v1/cohorts?institution=hospital-a", nil, &cs); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Manifest == p.CID.String() {
				return c.Status.Anchored && c.Status.Signature && !c.Status.Held
			}
		}
		return false
	})
	var one map[string]json.RawMessage
	if err := cl.Do(ctx, "GET", "/api/v1/cohorts/"+p.CID.String(), nil, &one); err != nil || one["manifest"] == nil {
		t.Fatalf("cohorts/{cid}: %v %v", one, err)
	}

	var cm ledger.Commitment
	if err := ca.Do(ctx, "POST", "/api/v1/access/grants", map[string]string{"dataset": p.Manifest.Name, "peer": "lab", "expires": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}, &cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the lab sees its grant", func() bool {
		var gs []EntryInfo
		cl.Do(ctx, "GET", "/api/v1/access/grants", nil, &gs)
		for _, g := range gs {
			if g.Dataset == p.Manifest.Name && g.Index == cm.Index {
				return true
			}
		}
		return false
	})
	eventually(t, 10*time.Second, "hospital-a decides for the lab", func() bool { return a.node.Decide(lab.id, p.CID, time.Now()) == nil })

	var j Job
	if err := cl.Do(ctx, "POST", "/api/v1/fetch", map[string]string{"ref": p.Manifest.Name}, &j); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the fetch job ends", func() bool {
		if err := cl.Do(ctx, "GET", "/api/v1/fetch/"+j.ID, nil, &j); err != nil {
			t.Fatal(err)
		}
		return j.State != JobRunning
	})
	if j.State != JobDone || j.Bytes != j.TotalBytes {
		t.Fatalf("job %+v", j)
	}

	var out bytes.Buffer
	if err := cl.Do(ctx, "POST", "/api/v1/query", map[string]string{"sql": "SELECT count(*) AS n FROM hospital_a_api_study.person"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1234") {
		t.Errorf("query answer %s, want 1234 persons", out.String())
	}

	// DELETE access/grants/{id} revokes.
	if err := ca.Do(ctx, "DELETE", "/api/v1/access/grants/"+jsonNumber(cm.Index), nil, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the revoke applies", func() bool { return errors.Is(a.node.Decide(lab.id, p.CID, time.Now()), ErrNoAccess) })

	var he *HTTPError
	if err := cl.Do(ctx, "POST", "/api/v1/access/grants", map[string]string{"dataset": p.Manifest.Name, "peer": "lab"}, nil); !errors.As(err, &he) || he.Status != http.StatusForbidden {
		t.Errorf("the lab granting itself hospital-a's dataset: %v", err)
	}
}

func jsonNumber(i uint64) string { b, _ := json.Marshal(i); return string(b) }

// A federated aggregate reaches every hospital over libp2p; each answers from
// its own datasets, signs, and records a release entry in the ledger.
func TestFederatedAggregate(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	publish(t, nw.hospB, "aggregate-study", cohort.AccessAggregateOnly, 2000)
	publish(t, nw.hospA, "aggregate-study", cohort.AccessAggregateOnly, 3000)
	c, err := nw.agency.node.Aggregate(ctx, query.AggregateRequest{ID: "t1", Table: "person", GroupBy: []string{"gender"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hospital-a", "hospital-b"} {
		if !slices.Contains(c.Answered, want) {
			t.Errorf("answered %v (missing %v, rejected %v), want %s", c.Answered, c.Missing, c.Rejected, want)
		}
	}
	if len(c.Cells) != 2 {
		t.Fatalf("cells %+v", c.Cells)
	}
	eventually(t, 15*time.Second, "release entries for the agency", func() bool {
		for _, e := range nw.agency.node.Entries(0, 100000) {
			if e.Kind == "release" && e.Recipient == nw.agency.id.String() && e.Dataset == "hospital-b/aggregate-study" {
				return true
			}
		}
		return false
	})
}
