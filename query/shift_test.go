package query

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// calendarCounts counts exposures the way cohortnet did before the
// self-controlled comparison, kept here to show why it was replaced: each
// unexposed person gets an index day drawn from the exposed persons' (PCG
// seeded with 1 and the FNV-1a hash of the drug code; persons in id order),
// a = exposed with the event 1 to window days after their first exposure,
// c = unexposed with the event in the same days after their drawn index.
func calendarCounts(fx *fixture, window int64) *Counts {
	c := newCounts()
	day := func(d time.Time) int64 { return d.Unix() / 86400 }
	var persons []string
	for _, p := range fx.persons {
		persons = append(persons, p.id)
	}
	slices.Sort(persons)
	c.N = int64(len(persons))
	inTable := map[string]bool{}
	for _, p := range persons {
		inTable[p] = true
	}
	index := map[string]map[string]int64{}
	for _, d := range fx.drugs {
		if !inTable[d.person] {
			continue
		}
		if index[d.code] == nil {
			index[d.code] = map[string]int64{}
		}
		if v, ok := index[d.code][d.person]; !ok || day(d.start) < v {
			index[d.code][d.person] = day(d.start)
		}
	}
	events := map[string][]fxCond{}
	for _, cd := range fx.conds {
		events[cd.person] = append(events[cd.person], cd)
	}
	for drug, exposed := range index {
		var ids []string
		for p := range exposed {
			ids = append(ids, p)
		}
		slices.Sort(ids)
		var pool []int64
		for _, p := range ids {
			pool = append(pool, exposed[p])
		}
		h := fnv.New64a()
		h.Write([]byte(drug))
		r := rand.New(rand.NewPCG(1, h.Sum64()))
		for _, p := range persons {
			at, ok := exposed[p]
			if !ok {
				at = pool[r.IntN(len(pool))]
			}
			seen := map[string]bool{}
			for _, ev := range events[p] {
				if d := day(ev.start); d > at && d <= at+window && !seen[ev.code] {
					seen[ev.code] = true
					cl := c.cells[Pair{drug, ev.code}]
					cl.event++
					if ok {
						cl.a++
					}
					c.cells[Pair{drug, ev.code}] = cl
				}
			}
		}
		c.Drug[drug] = int64(len(ids))
	}
	return c
}

// TestExposurePRRUnderDateShifts: the same three synthetic institutions,
// de-identified twice with real deid, in limited mode (real dates) and in
// expert mode (every person's dates shifted by their own secret offset of up
// to ±365 days), counted by exposures through the engine. The planted
// pairs' PRRs must lie within a factor of 1.5 of the planted relative risk
// in both, and the expert estimate within a factor of 1.15 of the unshifted
// one; the pairs without a planted effect must not be flagged more often
// than the previous method flagged them on the same expert data.
//
// The previous method (calendarCounts: unexposed persons indexed at calendar
// days drawn from the exposed) is computed alongside: it is right on real
// dates but not on shifted ones, where synth's background risk, highest
// during the drug's uptake year, is sampled at days up to two years away
// from the unexposed person's real calendar, and PRRs come out about twice
// the planted RR. That is the failure this test guards against.
func TestExposurePRRUnderDateShifts(t *testing.T) {
	sites, truth := synthSites(t, t.TempDir(), 1500, deid.Limited, deid.Expert)
	const w = synth.WindowDays
	planted := map[Pair]bool{}
	for _, s := range truth.Signals {
		planted[Pair{s.Drug, s.Event}] = true
	}
	prr := map[deid.Mode]map[Pair]float64{}
	flagged := map[deid.Mode]map[string]int{}
	for _, m := range []deid.Mode{deid.Limited, deid.Expert} {
		e := openSites(t, sites[m])
		c, err := e.Counts(t.Context(), SignalConfig{Source: SourceExposures, Window: w})
		if err != nil {
			t.Fatal(err)
		}
		sig := Signals(c, 3, "", "")
		prr[m] = map[Pair]float64{}
		for _, s := range sig {
			prr[m][s.Pair] = s.PRR
		}
		others, fl := flagRates(sig, planted)
		flagged[m] = fl
		t.Logf("%s: pairs without a planted effect flagged: %s", m, rateString(others, fl))

		old := newCounts()
		for _, cd := range sites[m] {
			old.Add(calendarCounts(readFixture(t, cd), w))
		}
		oldSig := Signals(old, 3, "", "")
		oldOthers, oldFlagged := flagRates(oldSig, planted)
		t.Logf("%s, previous method: pairs without a planted effect flagged: %s", m, rateString(oldOthers, oldFlagged))
		for _, ts := range truth.Signals {
			p := Pair{ts.Drug, ts.Event}
			was := math.NaN()
			if i := slicesIndex(oldSig, p); i >= 0 {
				was = oldSig[i].PRR
			}
			t.Logf("%s: %s → %s, planted RR %.1f: PRR %.2f (previous method %.2f)", m, ts.DrugName, ts.EventName, ts.RR, prr[m][p], was)
			if got := prr[m][p]; !(got >= ts.RR/1.5 && got <= ts.RR*1.5) {
				t.Errorf("%s: %v PRR %.2f, want within a factor of 1.5 of the planted RR %.1f", m, p, got, ts.RR)
			}
		}
		if m == deid.Expert {
			for _, rule := range []string{"evans", "ic025"} {
				if fl[rule] > oldFlagged[rule] {
					t.Errorf("expert: %s flags %d pairs without a planted effect, the previous method %d", rule, fl[rule], oldFlagged[rule])
				}
			}
		}
	}
	for p := range planted {
		if r := prr[deid.Expert][p] / prr[deid.Limited][p]; !(r >= 1/1.15 && r <= 1.15) {
			t.Errorf("%v: PRR %.2f on shifted dates, %.2f on real dates", p, prr[deid.Expert][p], prr[deid.Limited][p])
		}
	}
}
