package query

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/cohortnet/cohortnet/query/sdc"
)

type node struct {
	inst string
	ans  *Answerer
	rel  *MemoryReleases
}

// threeNodes gives each institution its own engine over its own dataset,
// plus (at the first node) a fetched copy of the second's dataset, which
// must never be counted by the first.
func threeNodes(t *testing.T, n int) ([]node, []*fixture) {
	t.Helper()
	ds, fx := threeSites(t, t.TempDir(), n)
	var nodes []node
	for i, d := range ds {
		local := []Dataset{d}
		if i == 0 {
			copyOf := ds[1]
			copyOf.Own = false
			local = append(local, copyOf)
		}
		e, err := Open(t.Context(), Config{Threads: 1}, local)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		rel := &MemoryReleases{}
		nodes = append(nodes, node{d.Institution, &Answerer{Engine: e, Key: key, Institution: d.Institution, Releases: rel}, rel})
	}
	return nodes, fx
}

func TestAggregateAnswers(t *testing.T) {
	nodes, fx := threeNodes(t, 120)
	req := AggregateRequest{ID: "r1", Requester: "agency", Table: "person", GroupBy: []string{"gender", "zip3"}, MinCell: 5}
	var answers []*AggregateAnswer
	for i, nd := range nodes {
		a, err := nd.ans.Answer(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Datasets) != 1 || a.Datasets[0].Institution != nd.inst {
			t.Fatalf("%s answered for %v", nd.inst, a.Datasets)
		}
		// Independent count of the node's own persons.
		want := map[[2]string]int64{}
		for _, p := range fx[i].persons {
			want[[2]string{p.gender, p.zip3}]++
		}
		var cells []int64
		for _, c := range a.Cells {
			v := want[[2]string{c.Group[0], c.Group[1]}]
			cells = append(cells, v)
			if c.Value != nil && *c.Value != v {
				t.Errorf("%s %v: released %d, true %d", nd.inst, c.Group, *c.Value, v)
			}
			if c.Value != nil && v > 0 && v < 5 {
				t.Errorf("%s %v: small count %d released", nd.inst, c.Group, v)
			}
		}
		if *a.Total.Value != int64(len(fx[i].persons)) {
			t.Errorf("%s total %d, want %d", nd.inst, *a.Total.Value, len(fx[i].persons))
		}
		// The audit, from the answer alone: every suppressed cell's range
		// given the released cells, margins and total is at least 5 wide.
		rows, cols := 0, 0
		for _, m := range a.Margins {
			if m.Group[0] != "" {
				rows++
			} else {
				cols++
			}
		}
		prob := sdc.Grid(cells, rows, cols)
		pat := sdc.Pattern{Cells: make([]bool, len(cells)), Sums: make([]bool, len(prob.Sums))}
		for k, c := range a.Cells {
			pat.Cells[k] = c.Value == nil
		}
		for j, m := range append(slices.Clone(a.Margins), a.Total) {
			pat.Sums[j] = m.Value == nil
		}
		b, err := sdc.Feasible(prob, pat)
		if err != nil {
			t.Fatal(err)
		}
		for k, r := range b.Cells {
			if r.Suppressed && r.Width() < 5 {
				t.Errorf("%s cell %v recoverable to [%g, %g]", nd.inst, a.Cells[k].Group, r.Lo, r.Hi)
			}
		}
		if len(nd.rel.Releases) != 1 || nd.rel.Releases[0].Requester != "agency" || nd.rel.Releases[0].Query != req.Hash() {
			t.Errorf("%s releases: %+v", nd.inst, nd.rel.Releases)
		}
		answers = append(answers, a)
	}

	// Combine: two answered, one missing, a tampered one rejected.
	tampered := *answers[1]
	tampered.Cells = slices.Clone(tampered.Cells)
	v := int64(999)
	tampered.Cells[0].Value = &v
	comb := Combine(req, []string{"hospital-a", "hospital-b", "hospital-c", "hospital-d"}, []*AggregateAnswer{answers[0], &tampered, answers[2]})
	if !slices.Equal(comb.Answered, []string{"hospital-a", "hospital-c"}) || len(comb.Rejected) != 1 ||
		!slices.Equal(comb.Missing, []string{"hospital-b", "hospital-d"}) {
		t.Errorf("combined: answered %v, rejected %v, missing %v", comb.Answered, comb.Rejected, comb.Missing)
	}
	for _, c := range comb.Cells {
		var want int64
		for _, i := range []int{0, 2} {
			for _, p := range fx[i].persons {
				if p.gender == c.Group[0] && p.zip3 == c.Group[1] {
					want++
				}
			}
		}
		if !c.LowerBound && c.Value != want || c.LowerBound && c.Value > want {
			t.Errorf("combined %v: %d (lower bound %v), true %d", c.Group, c.Value, c.LowerBound, want)
		}
	}
}

func TestAggregateBudgetAndYears(t *testing.T) {
	nodes, fx := threeNodes(t, 80)
	nd := nodes[1] // safe-harbor years
	req := AggregateRequest{ID: "dp", Requester: "agency", Table: "condition_occurrence", GroupBy: []string{"condition_start_year"}, Epsilon: 0.5, MinCell: 3}
	for i := range 2 {
		a, err := nd.ans.Answer(t.Context(), req)
		if err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
		if a.Epsilon != 0.5 || len(a.Cells) == 0 {
			t.Errorf("answer %+v", a)
		}
	}
	if _, err := nd.ans.Answer(t.Context(), req); !errors.Is(err, sdc.ErrBudgetExhausted) {
		t.Errorf("third release: %v, want budget exhausted", err)
	}
	// Another requester still has a budget.
	req.Requester = "researcher"
	if _, err := nd.ans.Answer(t.Context(), req); err != nil {
		t.Errorf("other requester: %v", err)
	}
	// Without noise, the years equal a count in Go, persons distinct.
	req.Epsilon = 0
	a, err := nd.ans.Answer(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]bool{}
	for _, c := range fx[1].conds {
		y := strconv.Itoa(c.start.Year())
		if want[y] == nil {
			want[y] = map[string]bool{}
		}
		want[y][c.person] = true
	}
	for _, c := range a.Cells {
		if c.Value != nil && *c.Value != int64(len(want[c.Group[0]])) {
			t.Errorf("year %s: %d, want %d", c.Group[0], *c.Value, len(want[c.Group[0]]))
		}
	}
	// Day-offset datasets cannot answer by year.
	if _, err := nodes[2].ans.Answer(t.Context(), req); err == nil {
		t.Error("a day-offset dataset answered by year")
	}
}

func TestAggregateRequestValidate(t *testing.T) {
	bad := []AggregateRequest{
		{Table: "note", GroupBy: []string{"note_type"}},
		{Table: "person", GroupBy: []string{"person_id"}},
		{Table: "person"},
		{Table: "person", GroupBy: []string{"gender", "race", "zip3"}},
		{Table: "person", GroupBy: []string{"gender"}, Filters: []Filter{{"person_id", "x"}}},
		{Table: "person", GroupBy: []string{"gender"}, Measure: "events", Epsilon: 1},
		{Table: "person", GroupBy: []string{"gender"}, Measure: "sum"},
		{Table: "person", GroupBy: []string{"gender", "gender"}},
	}
	for i, r := range bad {
		if err := r.Validate(); err == nil {
			t.Errorf("%d: %+v accepted", i, r)
		}
	}
}

// TestPooledAE: three nodes release their own report counts with small
// values suppressed; pooled, every pair's a is the true total where no site
// suppressed it and a lower bound otherwise, and the planted pair is flagged.
func TestPooledAE(t *testing.T) {
	nodes, fx := threeNodes(t, 300)
	var answers []*AEAnswer
	for _, nd := range nodes {
		nd.ans.MinCell = 5
		a, err := nd.ans.AnswerAE(t.Context(), "agency", SignalConfig{Source: SourceReports})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range a.Pairs {
			if p.A != nil && *p.A > 0 && *p.A < 5 {
				t.Fatalf("%s released a = %d", nd.inst, *p.A)
			}
		}
		// The release names the signed answer by its sha256.
		signed, _ := json.Marshal(a)
		sum := sha256.Sum256(signed)
		if n := len(nd.rel.Releases); n == 0 || nd.rel.Releases[n-1].Result != hex.EncodeToString(sum[:]) || nd.rel.Releases[n-1].Query == "" {
			t.Errorf("%s: release %+v does not name the answer (sha256 %x)", nd.inst, nd.rel.Releases, sum)
		}
		answers = append(answers, a)
	}
	sig, rejected := PooledSignals(answers, 1, "", "")
	if len(rejected) != 0 {
		t.Fatal(rejected)
	}
	for _, s := range sig {
		var want int64
		for _, f := range fx {
			seen := map[string]bool{}
			for _, a := range f.aes {
				if a.drug == s.Drug && a.event == s.Event && !seen[a.person] {
					seen[a.person] = true
					want++
				}
			}
		}
		if !s.LowerBound && s.A != want || s.LowerBound && s.A > want || s.LowerBound != (s.SitesSuppressed > 0) && s.A != want {
			t.Errorf("%v: pooled a %d (lower bound %v, %d sites suppressed), true %d", s.Pair, s.A, s.LowerBound, s.SitesSuppressed, want)
		}
	}
	i := slices.IndexFunc(sig, func(s Signal) bool { return s.Pair == Pair{"D1", "E1"} })
	if i < 0 || !sig[i].Flags.Evans {
		t.Errorf("planted pair not flagged when pooled")
	}
	// Answers travel as JSON: decoded ones pool to the same signals, and the
	// signature covers every pair's codes.
	var decoded []*AEAnswer
	for _, a := range answers {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var d AEAnswer
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		decoded = append(decoded, &d)
	}
	if wire, rej := PooledSignals(decoded, 1, "", ""); len(rej) != 0 || !reflect.DeepEqual(wire, sig) {
		t.Errorf("signals from answers decoded from JSON differ (rejected %v)", rej)
	}
	moved := *decoded[0]
	moved.Pairs = slices.Clone(moved.Pairs)
	moved.Pairs[0].Event = "another-event"
	if _, rej := PooledSignals([]*AEAnswer{&moved}, 1, "", ""); len(rej) != 1 {
		t.Errorf("answer with a changed event code accepted")
	}
	// A forged answer is rejected.
	forged := *answers[0]
	forged.Institution = "hospital-x"
	if _, rej := PooledSignals([]*AEAnswer{&forged}, 1, "", ""); len(rej) != 1 {
		t.Errorf("forged answer accepted")
	}
}

// TestPooledAEMethods: answers say under their signature which method
// counted them; a pool of answers counted by different methods is refused
// whole, and an answer whose method was changed after signing, or that
// names none, is rejected.
func TestPooledAEMethods(t *testing.T) {
	nodes, _ := threeNodes(t, 150)
	answer := func(i int, source string) *AEAnswer {
		a, err := nodes[i].ans.AnswerAE(t.Context(), "agency", SignalConfig{Source: source, Window: 30})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, source := range []string{"", SourceReports, SourceExposures, SourceSelfControlled} {
		want := cmp.Or(source, SourceReports)
		if a := answer(0, source); a.Method != want {
			t.Errorf("source %q: answer says method %q, want %q", source, a.Method, want)
		}
	}
	sc, ex := answer(0, SourceSelfControlled), answer(2, SourceExposures)
	if sig, rej := PooledSignals([]*AEAnswer{sc, answer(2, SourceSelfControlled)}, 1, "", ""); len(rej) != 0 || len(sig) == 0 {
		t.Fatalf("one method: %d signals, rejected %v", len(sig), rej)
	}
	sig, rej := PooledSignals([]*AEAnswer{sc, ex}, 1, "", "")
	if len(sig) != 0 || len(rej) != 2 {
		t.Fatalf("mixed methods: %d signals, rejected %v", len(sig), rej)
	}
	for _, r := range rej {
		if !strings.Contains(r, ErrMixedMethods.Error()) || !strings.Contains(r, "self-controlled by "+sc.Institution) {
			t.Errorf("rejection %q does not say the methods differ", r)
		}
	}
	relabeled := *ex
	relabeled.Method = SourceSelfControlled
	if sig, rej := PooledSignals([]*AEAnswer{sc, &relabeled}, 1, "", ""); len(rej) != 1 || !strings.Contains(rej[0], "signature") || len(sig) == 0 {
		t.Errorf("answer relabeled after signing: %d signals, rejected %v", len(sig), rej)
	}
	unnamed := *ex
	unnamed.Method = ""
	b, err := unnamed.signedBytes()
	if err != nil {
		t.Fatal(err)
	}
	if unnamed.Signature, err = nodes[2].ans.Key.Sign(b); err != nil {
		t.Fatal(err)
	}
	if _, rej := PooledSignals([]*AEAnswer{&unnamed}, 1, "", ""); len(rej) != 1 || !strings.Contains(rej[0], "no counting method") {
		t.Errorf("answer without a method: rejected %v", rej)
	}
}
