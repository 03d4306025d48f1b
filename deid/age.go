package deid

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/cohortnet/cohortnet/deid/source"
)

// YearFromAge is the transform reported for year_of_birth when some persons
// have no birth date but an age (person.age_years, as FAERS reports give):
// their year of birth is the year of the report's event (the earliest
// onset_date of their adverse events, shifted like their other dates in
// expert mode; the reference date when there is none) minus the whole years
// of age. It is approximate: the true year is that one or the one before.
const YearFromAge Transform = "year-from-age (approximate, ±1 year)"

// deriveYob gives a year of birth to the persons that have an age but no
// birth date (see [YearFromAge]), before k-anonymity sees it, and top-codes
// it as a birth date would be: when the person may be as old as the top
// code at the reference date, the year is the top-coded one.
func (r *run) deriveYob(ctx context.Context) error {
	const none = math.MaxInt32
	event := make([]int32, len(r.persons)) // earliest onset, none if unknown
	for i := range event {
		event[i] = none
	}
	for _, t := range r.exp.Tables() {
		if t != source.AdverseEvent {
			continue
		}
		rd, err := r.exp.Read(ctx, t)
		if err != nil {
			return fmt.Errorf("read %s: %w", t, err)
		}
		for rd.Next() {
			if err := ctx.Err(); err != nil {
				rd.Release()
				return err
			}
			c := newCols(rd.RecordBatch())
			ids, err1 := c.str("source_person_id")
			onsets, err2 := c.date("onset_date")
			if err1 != nil || err2 != nil || ids == nil {
				rd.Release()
				return fmt.Errorf("read %s: no usable source_person_id and onset_date columns", t)
			}
			for i := 0; i < int(c.rec.NumRows()); i++ {
				d, ok := dv(onsets, i)
				if !ok {
					continue
				}
				if pi, ok := r.index.lookup(sv(ids, i), r.persons); ok && r.attrs[pi].age >= 0 {
					event[pi] = min(event[pi], d)
				}
			}
		}
		err = rd.Err()
		rd.Release()
		if err != nil {
			return fmt.Errorf("read %s: %w", t, err)
		}
	}
	refYear := yearOf(r.refDays)
	tc := int32(r.pol.AgeTopCode)
	for pi := range r.persons {
		p := &r.persons[pi]
		age := r.attrs[pi].age
		if age < 0 || p.hasYob {
			continue
		}
		y := refYear
		if d := event[pi]; d != none {
			if r.pol.Mode == Expert {
				d += p.shift
			}
			y = yearOf(d)
		}
		p.yob = y - int32(math.Floor(float64(age)))
		p.hasYob = true
		// born in yob or the year before: at the reference date as old as
		// refYear-yob+1
		if tc > 0 && refYear-p.yob+1 >= tc {
			p.topCoded = true
			p.yob = refYear - tc
		}
	}
	r.log.Info("deid: years of birth from ages", "persons", r.fromAge)
	return nil
}

// ageNote is the report's note on year_of_birth when some came from ages.
func ageNote(n int64) string {
	return "approximate (±1 year) for the " + strconv.FormatInt(n, 10) +
		" persons without a birth date: the year of their report's event (or of the reference date) minus their age in years"
}
