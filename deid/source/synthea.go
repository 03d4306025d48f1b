package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/internal/idset"
)

// Synthea CSV layouts, told apart by the header of patients.csv.
const (
	LayoutSynthea30     = "v3.0"        // no FIPS, INCOME
	LayoutSynthea3x     = "v3.x"        // FIPS and INCOME
	LayoutSyntheaMiddle = "v3.x-middle" // FIPS, INCOME and MIDDLE
)

func syntheaLayout(patients string) (string, error) {
	c, err := openCSV(patients, ',', "Id", "BIRTHDATE", "GENDER")
	if err != nil {
		return "", err
	}
	defer c.close()
	switch {
	case c.has("MIDDLE"):
		return LayoutSyntheaMiddle, nil
	case c.has("FIPS") || c.has("INCOME"):
		return LayoutSynthea3x, nil
	}
	return LayoutSynthea30, nil
}

type synthea struct {
	*export
	patients idSet
}

func openSynthea(dir string) (Export, error) {
	pf := filepath.Join(dir, "patients.csv")
	layout, err := syntheaLayout(pf)
	if err != nil {
		return nil, err
	}
	s := &synthea{export: newExport(FormatSyntheaCSV, layout, dir)}
	s.add(Person, func(ctx context.Context) (array.RecordReader, error) { return s.readPersons(ctx, pf) })
	type src struct {
		table, file string
		read        func(ctx context.Context, path string) (array.RecordReader, error)
	}
	for _, t := range []src{
		{Visit, "encounters.csv", s.readEncounters},
		{Condition, "conditions.csv", s.readConditions},
		{Measurement, "observations.csv", s.readObservations},
		{Procedure, "procedures.csv", s.readProcedures},
	} {
		path := filepath.Join(dir, t.file)
		if !exists(path) {
			continue
		}
		s.add(t.table, func(ctx context.Context) (array.RecordReader, error) { return t.read(ctx, path) })
	}
	// drug_exposure is medications.csv followed by immunizations.csv.
	var drugFiles []string
	for _, f := range []string{"medications.csv", "immunizations.csv"} {
		if p := filepath.Join(dir, f); exists(p) {
			drugFiles = append(drugFiles, p)
		}
	}
	if len(drugFiles) > 0 {
		s.add(Drug, func(ctx context.Context) (array.RecordReader, error) { return s.readDrugs(ctx, drugFiles) })
	}
	addNotes(s.export, dir, s.patientIDs)
	return s, nil
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// patientIDs is the set of patient ids in patients.csv.
func (s *synthea) patientIDs() (*idset.Set, error) {
	return s.patients.get(func() (*idset.Set, error) { return csvIDSet(filepath.Join(s.dir, "patients.csv"), "Id") })
}

// csvIDSet reads the ids in column col of the CSV file at path, each
// required (an empty one is the same error the person reader gives).
func csvIDSet(path, col string) (*idset.Set, error) {
	c, err := openCSV(path, ',', col)
	if err != nil {
		return nil, err
	}
	defer c.close()
	i := c.col(col)
	ids := idset.New()
	for {
		ok, err := c.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return ids, nil
		}
		if c.get(i) == "" {
			return nil, c.fieldErr(i, ErrMissingField)
		}
		ids.Add(c.get(i))
	}
}

// checkPatient verifies that column i names a patient of the export.
func checkPatient(c *csvFile, i int, ids *idset.Set) error {
	p := c.get(i)
	if p == "" {
		return c.fieldErr(i, ErrMissingField)
	}
	if !ids.Has(p) {
		return c.fieldErr(i, detail(ErrUnknownPatient, "patient %q", clip(p)))
	}
	return nil
}

// patientCheck is checkPatient for the rows of one reader, which skips
// the lookup while the patient id repeats (a patient's rows usually come
// together).
type patientCheck struct {
	ids  *idset.Set
	last []byte // the id last found; nil before the first
}

func (pc *patientCheck) check(c *csvFile, i int) error {
	if pc.last != nil && string(pc.last) == c.get(i) {
		return nil
	}
	if err := checkPatient(c, i, pc.ids); err != nil {
		return err
	}
	pc.last = append(pc.last[:0], c.get(i)...)
	return nil
}

func (s *synthea) readPersons(ctx context.Context, path string) (array.RecordReader, error) {
	req := []string{"Id", "BIRTHDATE", "DEATHDATE", "GENDER", "FIRST", "LAST"}
	return readCSVTable(ctx, path, ',', Schema(Person), req, func(c *csvFile) (rowMapper, error) {
		id, birth, death := c.col("Id"), c.col("BIRTHDATE"), c.col("DEATHDATE")
		first, middle, last, maiden, prefix := c.col("FIRST"), c.col("MIDDLE"), c.col("LAST"), c.col("MAIDEN"), c.col("PREFIX")
		gender, race, eth := c.col("GENDER"), c.col("RACE"), c.col("ETHNICITY")
		ssn, drivers, passport := c.col("SSN"), c.col("DRIVERS"), c.col("PASSPORT")
		addr, city, county, state, zip := c.col("ADDRESS"), c.col("CITY"), c.col("COUNTY"), c.col("STATE"), c.col("ZIP")
		lat, lon, bplace := c.col("LAT"), c.col("LON"), c.col("BIRTHPLACE")
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if c.get(id) == "" {
				return false, c.fieldErr(id, ErrMissingField)
			}
			b, err := dateAt(c, birth)
			if err != nil {
				return false, err
			}
			if !b.ok {
				return false, c.fieldErr(birth, ErrMissingField)
			}
			d, err := dateAt(c, death)
			if err != nil {
				return false, err
			}
			la, laok, err := numAt(c, lat)
			if err != nil {
				return false, err
			}
			lo, look, err := numAt(c, lon)
			if err != nil {
				return false, err
			}
			given := c.get(first)
			if m := c.get(middle); m != "" {
				given += " " + m
			}
			w.str(0, c.get(id))
			w.str(1, given)
			w.str(2, c.get(last))
			w.str(3, c.get(maiden))
			w.str(4, c.get(prefix))
			w.date(5, b.v, true)
			w.date(6, d.v, d.ok)
			w.str(7, normGender(c.get(gender)))
			w.str(8, normRace(c.get(race)))
			w.str(9, normEthnicity(c.get(eth)))
			w.str(10, c.get(ssn))
			w.null(11) // Synthea CSV carries no MRN
			w.str(12, c.get(drivers))
			w.str(13, c.get(passport))
			w.null(14) // nor phone
			w.null(15) // nor email
			w.str(16, c.get(addr))
			w.str(17, c.get(city))
			w.str(18, c.get(county))
			w.str(19, normState(c.get(state)))
			w.str(20, c.get(zip))
			w.num(21, la, laok)
			w.num(22, lo, look)
			w.str(23, birthplace(strings.Split(c.get(bplace), "  ")...))
			w.null(24) // age_years: the birth date is known
			return true, nil
		}, nil
	})
}

func (s *synthea) readEncounters(ctx context.Context, path string) (array.RecordReader, error) {
	ids, err := s.patientIDs()
	if err != nil {
		return nil, err
	}
	return readCSVTable(ctx, path, ',', Schema(Visit), []string{"Id", "START", "STOP", "PATIENT", "ENCOUNTERCLASS"}, func(c *csvFile) (rowMapper, error) {
		id, start, stop, pat, class := c.col("Id"), c.col("START"), c.col("STOP"), c.col("PATIENT"), c.col("ENCOUNTERCLASS")
		pc := &patientCheck{ids: ids}
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if err := pc.check(c, pat); err != nil {
				return false, err
			}
			if c.get(id) == "" {
				return false, c.fieldErr(id, ErrMissingField)
			}
			s0, err := dateAt(c, start)
			if err != nil {
				return false, err
			}
			s1, err := dateAt(c, stop)
			if err != nil {
				return false, err
			}
			w.str(0, c.get(id))
			w.str(1, c.get(pat))
			w.str(2, strings.ToLower(c.get(class)))
			w.date(3, s0.v, s0.ok)
			w.date(4, s1.v, s1.ok)
			return true, nil
		}, nil
	})
}

// codedEvent maps the files shaped PATIENT, ENCOUNTER, [SYSTEM,] CODE,
// DESCRIPTION and a start and an optional end date into the coded tables.
func (s *synthea) codedEvent(ctx context.Context, path, table, vocab, startCol, endCol string) (array.RecordReader, error) {
	ids, err := s.patientIDs()
	if err != nil {
		return nil, err
	}
	req := []string{"PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", startCol}
	return readCSVTable(ctx, path, ',', Schema(table), req, func(c *csvFile) (rowMapper, error) {
		pat, enc, sys, code, desc := c.col("PATIENT"), c.col("ENCOUNTER"), c.col("SYSTEM"), c.col("CODE"), c.col("DESCRIPTION")
		start, end := c.col(startCol), c.col(endCol)
		withEnd := table != Procedure
		pc := &patientCheck{ids: ids}
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if err := pc.check(c, pat); err != nil {
				return false, err
			}
			s0, err := dateAt(c, start)
			if err != nil {
				return false, err
			}
			s1, err := dateAt(c, end)
			if err != nil {
				return false, err
			}
			v := vocab
			if sy := c.get(sys); sy != "" {
				v = syntheaSystem(sy)
			}
			w.str(0, c.get(pat))
			w.str(1, c.get(enc))
			w.str(2, v)
			w.str(3, c.get(code))
			w.str(4, c.get(desc))
			w.date(5, s0.v, s0.ok)
			if withEnd {
				w.date(6, s1.v, s1.ok)
			}
			return true, nil
		}, nil
	})
}

// syntheaSystem names the vocabulary of a SYSTEM column value (later
// Synthea versions write a URI or a short name).
func syntheaSystem(s string) string {
	if v, ok := vocabOf(s); ok {
		return v
	}
	switch strings.ToUpper(strings.ReplaceAll(s, "-", "")) {
	case "SNOMEDCT", "SNOMED":
		return VocabSNOMED
	case "RXNORM":
		return VocabRxNorm
	case "LOINC":
		return VocabLOINC
	case "CVX":
		return VocabCVX
	}
	return s
}

func (s *synthea) readConditions(ctx context.Context, path string) (array.RecordReader, error) {
	return s.codedEvent(ctx, path, Condition, VocabSNOMED, "START", "STOP")
}

func (s *synthea) readProcedures(ctx context.Context, path string) (array.RecordReader, error) {
	return s.codedEvent(ctx, path, Procedure, VocabSNOMED, "START", "")
}

// readDrugs streams medications.csv (RxNorm) and then immunizations.csv
// (CVX, one date) as drug_exposure.
func (s *synthea) readDrugs(ctx context.Context, paths []string) (array.RecordReader, error) {
	open := func(ctx context.Context, path string) (array.RecordReader, error) {
		if filepath.Base(path) == "immunizations.csv" {
			return s.codedEvent(ctx, path, Drug, VocabCVX, "DATE", "DATE")
		}
		return s.codedEvent(ctx, path, Drug, VocabRxNorm, "START", "STOP")
	}
	return concatReaders(ctx, Schema(Drug), paths, open)
}

func (s *synthea) readObservations(ctx context.Context, path string) (array.RecordReader, error) {
	ids, err := s.patientIDs()
	if err != nil {
		return nil, err
	}
	req := []string{"DATE", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "VALUE", "UNITS"}
	return readCSVTable(ctx, path, ',', Schema(Measurement), req, func(c *csvFile) (rowMapper, error) {
		date, pat, enc, code, desc := c.col("DATE"), c.col("PATIENT"), c.col("ENCOUNTER"), c.col("CODE"), c.col("DESCRIPTION")
		val, units, typ := c.col("VALUE"), c.col("UNITS"), c.col("TYPE")
		pc := &patientCheck{ids: ids}
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if err := pc.check(c, pat); err != nil {
				return false, err
			}
			d, err := dateAt(c, date)
			if err != nil {
				return false, err
			}
			var v float64
			var ok bool
			if typ >= 0 && c.get(typ) != "numeric" {
				s.un.add("observation not numeric")
				return false, nil
			}
			v, ok, err = numAt(c, val)
			if err != nil {
				if typ >= 0 {
					return false, err // declared numeric but is not
				}
				s.un.add("observation not numeric")
				return false, nil
			}
			w.str(0, c.get(pat))
			w.str(1, c.get(enc))
			w.str(2, VocabLOINC)
			w.str(3, c.get(code))
			w.str(4, c.get(desc))
			w.date(5, d.v, d.ok)
			w.num(6, v, ok)
			w.str(7, c.get(units))
			return true, nil
		}, nil
	})
}
