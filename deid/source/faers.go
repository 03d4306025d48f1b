package source

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/internal/idset"
)

// FAERS quarterly ASCII extracts: $-separated DEMO, DRUG, REAC and OUTC
// files (DEMO17Q2.txt...). A case is a person (source_person_id = caseid);
// each (latest case version, suspect drug PS or SS, reaction) is one
// adverse_event row with source "report".

// faersKind is the table a FAERS file name holds (DEMO, DRUG, REAC, OUTC...),
// or "".
func faersKind(name string) string {
	u := strings.ToUpper(name)
	if !strings.HasSuffix(u, ".TXT") {
		return ""
	}
	for _, k := range []string{"DEMO", "DRUG", "REAC", "OUTC", "INDI", "THER", "RPSR"} {
		if strings.HasPrefix(u, k) {
			return k
		}
	}
	return ""
}

type faers struct {
	*export
	files map[string]string // kind to path
	cases idSet
}

func openFAERS(dir string) (Export, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	f := &faers{export: newExport(FormatFAERS, "ascii", dir), files: map[string]string{}}
	for _, e := range ents {
		if k := faersKind(e.Name()); k != "" && !e.IsDir() {
			if _, dup := f.files[k]; dup {
				return nil, &ParseError{File: filepath.Join(dir, e.Name()), Entry: -1, Err: detail(ErrSyntax, "two %s files: open one quarter at a time", k)}
			}
			f.files[k] = filepath.Join(dir, e.Name())
		}
	}
	for _, k := range []string{"DEMO", "DRUG", "REAC"} {
		if f.files[k] == "" {
			return nil, &ParseError{File: dir, Entry: -1, Field: k, Err: detail(ErrMissingField, "no %s file", k)}
		}
	}
	f.add(Person, f.readPersons)
	f.add(AdverseEvent, f.readEvents)
	addNotes(f.export, dir, f.caseIDs)
	return f, nil
}

// faersCase is the latest version of a case in DEMO.
type faersCase struct {
	primaryid string
	version   int
	eventDt   string
}

// latest reads DEMO: for each caseid, its latest version.
func (f *faers) latest() (map[string]faersCase, error) {
	c, err := openCSV(f.files["DEMO"], '$', "primaryid", "caseid", "caseversion")
	if err != nil {
		return nil, err
	}
	defer c.close()
	pid, cid, ver, ev := c.col("primaryid"), c.col("caseid"), c.col("caseversion"), c.col("event_dt")
	out := make(map[string]faersCase)
	for {
		ok, err := c.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		if c.get(cid) == "" {
			return nil, c.fieldErr(cid, ErrMissingField)
		}
		if c.get(pid) == "" {
			return nil, c.fieldErr(pid, ErrMissingField)
		}
		v, err := strconv.Atoi(c.get(ver))
		if err != nil {
			return nil, c.fieldErr(ver, detail(ErrBadValue, "not a case version: %q", clip(c.get(ver))))
		}
		if _, _, err := parseCompactDate(c.get(ev)); err != nil {
			return nil, c.fieldErr(ev, err)
		}
		if old, ok := out[c.get(cid)]; !ok || v > old.version {
			out[keep(c.get(cid))] = faersCase{primaryid: keep(c.get(pid)), version: v, eventDt: keep(c.get(ev))}
		}
	}
}

func (f *faers) caseIDs() (*idset.Set, error) {
	return f.cases.get(func() (*idset.Set, error) {
		l, err := f.latest()
		if err != nil {
			return nil, err
		}
		ids := idset.New()
		for k := range l {
			ids.Add(k)
		}
		return ids, nil
	})
}

// readPersons streams the latest version of every case as a person: sex,
// and nothing that identifies (FAERS carries no names or dates of birth).
func (f *faers) readPersons(ctx context.Context) (array.RecordReader, error) {
	l, err := f.latest()
	if err != nil {
		return nil, err
	}
	req := []string{"primaryid", "caseid", "sex"}
	return readCSVTable(ctx, f.files["DEMO"], '$', Schema(Person), req, func(c *csvFile) (rowMapper, error) {
		pid, cid, sex := c.col("primaryid"), c.col("caseid"), c.col("sex")
		age, ageCod := c.col("age"), c.col("age_cod")
		return func(c *csvFile, w *rowWriter) (bool, error) {
			if l[c.get(cid)].primaryid != c.get(pid) {
				f.un.add("FAERS case superseded by a later version")
				return false, nil
			}
			years, yok, err := faersAge(c.get(age), c.get(ageCod))
			if err != nil {
				return false, c.fieldErr(age, err)
			}
			w.str(0, c.get(cid))
			for i := 1; i <= 6; i++ {
				w.null(i)
			}
			w.str(7, normGender(c.get(sex)))
			w.null(8)
			w.null(9)
			for i := 10; i <= 22; i++ {
				w.null(i)
			}
			w.null(23) // FAERS gives the country of occurrence, not of birth
			w.num(24, years, yok)
			return true, nil
		}, nil
	})
}

// faersAge converts an age and its unit (YR, MON, WK, DY, HR, DEC) to years.
func faersAge(age, unit string) (float64, bool, error) {
	if age == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(age, 64)
	if err != nil {
		return 0, false, detail(ErrBadValue, "not an age: %q", clip(age))
	}
	switch strings.ToUpper(unit) {
	case "YR", "":
		return v, true, nil
	case "DEC":
		return v * 10, true, nil
	case "MON":
		return v / 12, true, nil
	case "WK":
		return v * 7 / 365.25, true, nil
	case "DY":
		return v / 365.25, true, nil
	case "HR":
		return v / (24 * 365.25), true, nil
	}
	return 0, false, detail(ErrBadValue, "unknown age unit %q", clip(unit))
}

type faersDrug struct{ code, name string }

// outcome codes from most to least severe.
var faersOutcomes = []struct{ code, word string }{
	{"DE", "death"}, {"LT", "life-threatening"}, {"HO", "hospitalization"},
	{"DS", "disability"}, {"CA", "congenital anomaly"}, {"RI", "required intervention"},
	{"OT", "other serious"},
}

func outcomeRank(code string) int {
	for i, o := range faersOutcomes {
		if o.code == code {
			return i
		}
	}
	return -1
}

// readEvents streams REAC, joining each reaction of a latest case version to
// the case's suspect drugs and outcome. The suspect drugs and outcomes of
// the latest versions are held by primaryid.
func (f *faers) readEvents(ctx context.Context) (array.RecordReader, error) {
	l, err := f.latest()
	if err != nil {
		return nil, err
	}
	byPrimary := make(map[string]string, len(l)) // primaryid to caseid
	for cid, c := range l {
		byPrimary[c.primaryid] = cid
	}
	drugs := make(map[string][]faersDrug)
	{
		c, err := openCSV(f.files["DRUG"], '$', "primaryid", "role_cod", "drugname")
		if err != nil {
			return nil, err
		}
		pid, role, name, ai := c.col("primaryid"), c.col("role_cod"), c.col("drugname"), c.col("prod_ai")
		for {
			ok, err := c.next()
			if err != nil {
				c.close()
				return nil, err
			}
			if !ok {
				break
			}
			if _, latest := byPrimary[c.get(pid)]; !latest {
				continue
			}
			switch c.get(role) {
			case "PS", "SS":
				drugs[keep(c.get(pid))] = append(drugs[c.get(pid)], faersDrug{strings.ToUpper(firstOf(c.get(ai), c.get(name))), keep(c.get(name))})
			case "C", "I":
			default:
				c.close()
				return nil, c.fieldErr(role, detail(ErrBadValue, "unknown role code %q", clip(c.get(role))))
			}
		}
		c.close()
	}
	outcomes := make(map[string]string)
	if p := f.files["OUTC"]; p != "" {
		c, err := openCSV(p, '$', "primaryid", "outc_cod")
		if err != nil {
			return nil, err
		}
		pid, oc := c.col("primaryid"), c.col("outc_cod")
		for {
			ok, err := c.next()
			if err != nil {
				c.close()
				return nil, err
			}
			if !ok {
				break
			}
			r := outcomeRank(c.get(oc))
			if r < 0 {
				c.close()
				return nil, c.fieldErr(oc, detail(ErrBadValue, "unknown outcome code %q", clip(c.get(oc))))
			}
			if old, seen := outcomes[c.get(pid)]; !seen || r < outcomeRank(old) {
				outcomes[keep(c.get(pid))] = keep(c.get(oc))
			}
		}
		c.close()
	}
	return readCSVTable(ctx, f.files["REAC"], '$', Schema(AdverseEvent), []string{"primaryid", "pt"}, func(c *csvFile) (rowMapper, error) {
		pid, pt := c.col("primaryid"), c.col("pt")
		return func(c *csvFile, w *rowWriter) (bool, error) {
			cid, latest := byPrimary[c.get(pid)]
			if !latest {
				f.un.add("FAERS reaction of a superseded or unknown case version")
				return false, nil
			}
			ds := drugs[c.get(pid)]
			if len(ds) == 0 {
				f.un.add("FAERS reaction without a suspect drug")
				return false, nil
			}
			onset, ook, _ := parseCompactDate(l[cid].eventDt)
			oc := outcomes[c.get(pid)]
			word := ""
			if r := outcomeRank(oc); r >= 0 {
				word = faersOutcomes[r].word
			}
			for i, d := range ds {
				if i > 0 {
					w.end()
				}
				w.str(0, cid)
				w.str(1, "FAERS")
				w.str(2, d.code)
				w.str(3, d.name)
				w.str(4, VocabMedDRA)
				w.str(5, c.get(pt))
				w.str(6, c.get(pt))
				w.date(7, onset, ook)
				w.boolean(8, oc != "", true)
				w.str(9, word)
				w.str(10, AESourceReport)
			}
			return true, nil
		}, nil
	})
}
