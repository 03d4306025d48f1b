package source

import (
	"context"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/internal/idset"
)

// OMOP CDM v5.4 CSV: person (with death and location folded in),
// visit_occurrence, condition_occurrence, drug_exposure, measurement,
// procedure_occurrence and note. Concept ids are resolved to vocabulary,
// code and name through CONCEPT.csv when the export has it; otherwise the
// *_source_value is kept as the code.
type omop struct {
	*export
	names    []string
	persons  idSet
	concepts string // path of CONCEPT.csv, "" when absent
}

func openOMOP(dir string) (Export, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	o := &omop{export: newExport(FormatOMOP, "v5.4", dir)}
	for _, e := range ents {
		if !e.IsDir() {
			o.names = append(o.names, e.Name())
		}
	}
	personPath := o.file("PERSON.csv")
	if personPath == "" {
		return nil, &ParseError{File: dir, Entry: -1, Field: "PERSON.csv", Err: detail(ErrMissingField, "no PERSON.csv")}
	}
	o.concepts = o.file("CONCEPT.csv")
	o.add(Person, func(ctx context.Context) (array.RecordReader, error) { return o.readPersons(ctx, personPath) })
	for _, t := range []struct {
		table, file, concept, source, start, end string
	}{
		{Condition, "CONDITION_OCCURRENCE.csv", "condition_concept_id", "condition_source_value", "condition_start_date", "condition_end_date"},
		{Drug, "DRUG_EXPOSURE.csv", "drug_concept_id", "drug_source_value", "drug_exposure_start_date", "drug_exposure_end_date"},
		{Procedure, "PROCEDURE_OCCURRENCE.csv", "procedure_concept_id", "procedure_source_value", "procedure_date", ""},
		{Measurement, "MEASUREMENT.csv", "measurement_concept_id", "measurement_source_value", "measurement_date", ""},
	} {
		path := o.file(t.file)
		if path == "" {
			continue
		}
		o.add(t.table, func(ctx context.Context) (array.RecordReader, error) {
			return o.readCoded(ctx, path, t.table, t.concept, t.source, t.start, t.end)
		})
	}
	if p := o.file("VISIT_OCCURRENCE.csv"); p != "" {
		o.add(Visit, func(ctx context.Context) (array.RecordReader, error) { return o.readVisits(ctx, p) })
	}
	if p := o.file("NOTE.csv"); p != "" {
		o.add(Note, func(ctx context.Context) (array.RecordReader, error) { return o.readNotes(ctx, p) })
	} else {
		addNotes(o.export, dir, o.personIDs)
	}
	return o, nil
}

// file finds an OMOP table file by name, upper- or lower-case.
func (o *omop) file(name string) string { return findFold(o.dir, o.names, name) }

func (o *omop) personIDs() (*idset.Set, error) {
	return o.persons.get(func() (*idset.Set, error) { return csvIDSet(o.file("PERSON.csv"), "person_id") })
}

// columnSet reads the set of non-empty values of one column.
func columnSet(path string, comma rune, col string) (map[string]struct{}, error) {
	c, err := openCSV(path, comma, col)
	if err != nil {
		return nil, err
	}
	defer c.close()
	i := c.col(col)
	set := make(map[string]struct{})
	for {
		ok, err := c.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return set, nil
		}
		if v := c.get(i); v != "" {
			set[keep(v)] = struct{}{}
		}
	}
}

// omopDate reads an OMOP date: ISO (2002-10-15) or compact (20021015).
func omopDate(c *csvFile, i int) (dateCell, error) {
	s := c.get(i)
	if len(s) == 8 {
		if _, ok := digits(s); ok {
			d, ok, err := parseCompactDate(s)
			if err != nil {
				return dateCell{}, c.fieldErr(i, err)
			}
			return dateCell{d, ok}, nil
		}
	}
	return dateAt(c, i)
}

// conceptsFor reads the codes of the concept ids used in columns cols of
// the table at path, scanning CONCEPT.csv once for just those.
func (o *omop) conceptsFor(path string, cols ...string) (map[string]code, error) {
	out := make(map[string]code)
	if o.concepts == "" {
		return out, nil
	}
	want := make(map[string]struct{})
	for _, col := range cols {
		set, err := columnSet(path, ',', col)
		if err != nil {
			return nil, err
		}
		for k := range set {
			want[k] = struct{}{}
		}
	}
	delete(want, "0")
	if len(want) == 0 {
		return out, nil
	}
	c, err := openCSV(o.concepts, ',', "concept_id", "concept_name", "vocabulary_id", "concept_code")
	if err != nil {
		return nil, err
	}
	defer c.close()
	id, name, vocab, cc := c.col("concept_id"), c.col("concept_name"), c.col("vocabulary_id"), c.col("concept_code")
	for {
		ok, err := c.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		if _, w := want[c.get(id)]; w {
			out[keep(c.get(id))] = code{keep(c.get(vocab)), keep(c.get(cc)), keep(c.get(name))}
		}
	}
}

// checkPerson verifies that column i names a person of the export.
func (o *omop) checkPerson(c *csvFile, i int) error {
	ids, err := o.personIDs()
	if err != nil {
		return err
	}
	return checkPatient(c, i, ids)
}

type omopLocation struct {
	line, city, county, state, zip string
	lat, lon                       string
}

func (o *omop) readPersons(ctx context.Context, path string) (array.RecordReader, error) {
	deaths := make(map[string]string)
	if p := o.file("DEATH.csv"); p != "" {
		c, err := openCSV(p, ',', "person_id", "death_date")
		if err != nil {
			return nil, err
		}
		defer c.close()
		pid, dd := c.col("person_id"), c.col("death_date")
		for {
			ok, err := c.next()
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			if err := o.checkPerson(c, pid); err != nil {
				return nil, err
			}
			if _, err := omopDate(c, dd); err != nil {
				return nil, err
			}
			deaths[keep(c.get(pid))] = keep(c.get(dd))
		}
	}
	locs := make(map[string]omopLocation)
	if p := o.file("LOCATION.csv"); p != "" {
		c, err := openCSV(p, ',', "location_id")
		if err != nil {
			return nil, err
		}
		defer c.close()
		for {
			ok, err := c.next()
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			a1, a2 := c.get(c.col("address_1")), c.get(c.col("address_2"))
			if a2 != "" {
				a1 += ", " + a2
			}
			locs[c.get(c.col("location_id"))] = omopLocation{
				line: a1, city: c.get(c.col("city")), county: c.get(c.col("county")),
				state: c.get(c.col("state")), zip: c.get(c.col("zip")),
				lat: c.get(c.col("latitude")), lon: c.get(c.col("longitude")),
			}
		}
	}
	req := []string{"person_id", "gender_concept_id", "year_of_birth"}
	return readCSVTable(ctx, path, ',', Schema(Person), req, func(c *csvFile) (rowMapper, error) {
		pid, gc, yob, mob, dob, bdt := c.col("person_id"), c.col("gender_concept_id"), c.col("year_of_birth"), c.col("month_of_birth"), c.col("day_of_birth"), c.col("birth_datetime")
		rc, ec, gsv, rsv, esv := c.col("race_concept_id"), c.col("ethnicity_concept_id"), c.col("gender_source_value"), c.col("race_source_value"), c.col("ethnicity_source_value")
		loc := c.col("location_id")
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if c.get(pid) == "" {
				return false, c.fieldErr(pid, ErrMissingField)
			}
			var birth dateCell
			var err error
			if c.get(bdt) != "" {
				if birth, err = omopDate(c, bdt); err != nil {
					return false, err
				}
			} else {
				y, yok := digits(c.get(yob))
				if !yok {
					return false, c.fieldErr(yob, detail(ErrBadValue, "not a year: %q", clip(c.get(yob))))
				}
				m, mok := digits(c.get(mob))
				d, dok := digits(c.get(dob))
				if !mok || m < 1 || m > 12 {
					m = 1
				}
				if !dok || d < 1 || d > daysIn(y, m) {
					d = 1
				}
				birth = dateCell{arrow.Date32(daysFromCivil(y, m, d)), true}
			}
			var death dateCell
			if s, ok := deaths[c.get(pid)]; ok {
				death.v, death.ok, _ = parseDate(s)
				if !death.ok && len(s) == 8 {
					death.v, death.ok, _ = parseCompactDate(s)
				}
			}
			l := locs[c.get(loc)]
			la, laok, _ := parseNumber(l.lat)
			lo, look, _ := parseNumber(l.lon)
			gender := normGender(c.get(gc))
			if gender == GenderUnknown {
				gender = normGender(c.get(gsv))
			}
			race := normRace(c.get(rc))
			if race == c.get(rc) || race == "0" {
				race = normRace(c.get(rsv))
			}
			eth := normEthnicity(c.get(ec))
			if eth == c.get(ec) || eth == "0" {
				eth = normEthnicity(c.get(esv))
			}
			w.str(0, c.get(pid))
			for i := 1; i <= 4; i++ {
				w.null(i)
			}
			w.date(5, birth.v, birth.ok)
			w.date(6, death.v, death.ok)
			w.str(7, gender)
			w.str(8, race)
			w.str(9, eth)
			for i := 10; i <= 15; i++ {
				w.null(i)
			}
			w.str(16, l.line)
			w.str(17, l.city)
			w.str(18, l.county)
			w.str(19, normState(l.state))
			w.str(20, l.zip)
			w.num(21, la, laok)
			w.num(22, lo, look)
			w.null(23)
			w.null(24) // age_years: the birth date is known
			return true, nil
		}, nil
	})
}

// visitTypes names the OMOP visit concepts.
var visitTypes = map[string]string{
	"9201": "inpatient", "9202": "ambulatory", "9203": "emergency", "262": "inpatient",
	"581458": "pharmacy", "581476": "home", "581477": "office", "32036": "laboratory", "5083": "virtual",
	"38004193": "ambulatory",
}

func (o *omop) readVisits(ctx context.Context, path string) (array.RecordReader, error) {
	concepts, err := o.conceptsFor(path, "visit_concept_id")
	if err != nil {
		return nil, err
	}
	req := []string{"visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date"}
	return readCSVTable(ctx, path, ',', Schema(Visit), req, func(c *csvFile) (rowMapper, error) {
		id, pid, vc, s0, s1, vsv := c.col("visit_occurrence_id"), c.col("person_id"), c.col("visit_concept_id"), c.col("visit_start_date"), c.col("visit_end_date"), c.col("visit_source_value")
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if err := o.checkPerson(c, pid); err != nil {
				return false, err
			}
			d0, err := omopDate(c, s0)
			if err != nil {
				return false, err
			}
			d1, err := omopDate(c, s1)
			if err != nil {
				return false, err
			}
			typ, ok := visitTypes[c.get(vc)]
			if !ok {
				if cc, found := concepts[c.get(vc)]; found {
					typ = strings.ToLower(cc.name)
				} else {
					typ = strings.ToLower(c.get(vsv))
				}
			}
			w.str(0, c.get(id))
			w.str(1, c.get(pid))
			w.str(2, typ)
			w.date(3, d0.v, d0.ok)
			w.date(4, d1.v, d1.ok)
			return true, nil
		}, nil
	})
}

// readCoded streams condition_occurrence, drug_exposure,
// procedure_occurrence and measurement.
func (o *omop) readCoded(ctx context.Context, path, table, conceptCol, sourceCol, startCol, endCol string) (array.RecordReader, error) {
	cols := []string{conceptCol}
	if table == Measurement {
		cols = append(cols, "unit_concept_id")
	}
	concepts, err := o.conceptsFor(path, cols...)
	if err != nil {
		return nil, err
	}
	req := []string{"person_id", conceptCol, startCol}
	return readCSVTable(ctx, path, ',', Schema(table), req, func(c *csvFile) (rowMapper, error) {
		pid, visit, cc, sv, s0, s1 := c.col("person_id"), c.col("visit_occurrence_id"), c.col(conceptCol), c.col(sourceCol), c.col(startCol), c.col(endCol)
		val, unitC, unitS := c.col("value_as_number"), c.col("unit_concept_id"), c.col("unit_source_value")
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if err := o.checkPerson(c, pid); err != nil {
				return false, err
			}
			d0, err := omopDate(c, s0)
			if err != nil {
				return false, err
			}
			d1, err := omopDate(c, s1)
			if err != nil {
				return false, err
			}
			k, ok := concepts[c.get(cc)]
			if !ok {
				k = code{code: c.get(sv)}
				if o.concepts == "" {
					o.un.add("no CONCEPT.csv: source value kept as code")
				} else {
					o.un.add("concept not in CONCEPT.csv: source value kept as code")
				}
			}
			var v float64
			var vok bool
			var unit string
			if table == Measurement {
				if v, vok, err = numAt(c, val); err != nil {
					return false, err
				}
				unit = c.get(unitS)
				if u, ok := concepts[c.get(unitC)]; ok && unit == "" {
					unit = u.code
				}
			}
			w.str(0, c.get(pid))
			w.str(1, c.get(visit))
			w.str(2, k.vocab)
			w.str(3, k.code)
			w.str(4, k.name)
			w.date(5, d0.v, d0.ok)
			switch table {
			case Condition, Drug:
				w.date(6, d1.v, d1.ok)
			case Measurement:
				w.num(6, v, vok)
				w.str(7, unit)
			}
			return true, nil
		}, nil
	})
}

func (o *omop) readNotes(ctx context.Context, path string) (array.RecordReader, error) {
	req := []string{"note_id", "person_id", "note_date", "note_text"}
	return readCSVTable(ctx, path, ',', Schema(Note), req, func(c *csvFile) (rowMapper, error) {
		id, pid, date, visit, title, text, srcv := c.col("note_id"), c.col("person_id"), c.col("note_date"), c.col("visit_occurrence_id"), c.col("note_title"), c.col("note_text"), c.col("note_source_value")
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if err := o.checkPerson(c, pid); err != nil {
				return false, err
			}
			d, err := omopDate(c, date)
			if err != nil {
				return false, err
			}
			w.str(0, c.get(id))
			w.str(1, c.get(pid))
			w.str(2, c.get(visit))
			w.date(3, d.v, d.ok)
			w.str(4, firstOf(c.get(title), c.get(srcv)))
			w.str(5, c.get(text))
			return true, nil
		}, nil
	})
}
