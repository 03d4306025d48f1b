package synth

import (
	"strconv"
)

// Synthea CSV headers, v3.0 layout, as in ../shared/data/synthea-csv-27.
const (
	hdrPatients      = "Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,MARITAL,RACE,ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,ZIP,LAT,LON,HEALTHCARE_EXPENSES,HEALTHCARE_COVERAGE"
	hdrEncounters    = "Id,START,STOP,PATIENT,ORGANIZATION,PROVIDER,PAYER,ENCOUNTERCLASS,CODE,DESCRIPTION,BASE_ENCOUNTER_COST,TOTAL_CLAIM_COST,PAYER_COVERAGE,REASONCODE,REASONDESCRIPTION"
	hdrConditions    = "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION"
	hdrMedications   = "START,STOP,PATIENT,PAYER,ENCOUNTER,CODE,DESCRIPTION,BASE_COST,PAYER_COVERAGE,DISPENSES,TOTALCOST,REASONCODE,REASONDESCRIPTION"
	hdrImmunizations = "DATE,PATIENT,ENCOUNTER,CODE,DESCRIPTION,BASE_COST"
	hdrObservations  = "DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE"
	hdrProcedures    = "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,BASE_COST,REASONCODE,REASONDESCRIPTION"
)

// CSVFiles lists the Synthea CSV files Generate writes, in writing order.
var CSVFiles = []string{"patients.csv", "encounters.csv", "conditions.csv", "medications.csv", "immunizations.csv", "observations.csv", "procedures.csv"}

type csvSink struct {
	g                                   *generator
	pat, enc, cond, med, imm, obs, proc *outFile
	all                                 []*outFile
}

func newCSVSink(dir string, g *generator) (*csvSink, error) {
	s := &csvSink{g: g}
	ptrs := []**outFile{&s.pat, &s.enc, &s.cond, &s.med, &s.imm, &s.obs, &s.proc}
	hdrs := []string{hdrPatients, hdrEncounters, hdrConditions, hdrMedications, hdrImmunizations, hdrObservations, hdrProcedures}
	for i, name := range CSVFiles {
		o, err := createOut(dir, name)
		if err != nil {
			closeAll(s.all)
			return nil, err
		}
		if dir != "" {
			o.header(hdrs[i])
		}
		*ptrs[i] = o
		s.all = append(s.all, o)
	}
	return s, nil
}

func (s *csvSink) outputs() []*outFile { return s.all }
func (s *csvSink) abort()              { closeAll(s.all) }

// appendClean appends a free-text value the way Synthea's CSV exporter
// cleans it: commas and line breaks become spaces, so nothing is quoted.
func appendClean(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ',' || c == '\n' || c == '\r' || c == '"' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

func appendMoney(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'f', 2, 64) }

func (s *csvSink) write(p *patient) error {
	g := s.g
	payer := g.payers[p.payer][:]
	// patients.csv
	o := s.pat
	b := append(o.buf, p.id[:]...)
	b = append(b, ',')
	b = appendDate(b, p.birth)
	b = append(b, ',')
	if p.death >= 0 {
		b = appendDate(b, p.death)
	}
	for _, v := range [...]string{p.ssn, p.drivers, p.passport, p.prefix, p.first, p.last, p.suffix, p.maiden, p.marital, p.race, p.ethnicity} {
		b = append(b, ',')
		b = appendClean(b, v)
	}
	b = append(b, ',', p.gender, ',')
	b = appendClean(b, p.birthplace)
	b = append(b, ',')
	b = appendClean(b, p.addressLine())
	for _, v := range [...]string{p.home.city, p.home.state, p.home.county, p.zip} {
		b = append(b, ',')
		b = appendClean(b, v)
	}
	b = append(b, ',')
	b = strconv.AppendFloat(b, p.lat, 'f', -1, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, p.lon, 'f', -1, 64)
	b = append(b, ',')
	b = appendMoney(b, p.expenses)
	b = append(b, ',')
	b = appendMoney(b, p.coverage)
	o.buf = b
	o.endRow()

	// encounters.csv
	o = s.enc
	for i := range p.encs {
		e := &p.encs[i]
		b := append(o.buf, e.id[:]...)
		b = append(b, ',')
		b = appendTime(b, e.start)
		b = append(b, ',')
		b = appendTime(b, e.stop)
		b = append(b, ',')
		b = append(b, p.id[:]...)
		b = append(b, ',')
		b = append(b, g.orgs[g.provOrg[e.provider]][:]...)
		b = append(b, ',')
		b = append(b, g.providers[e.provider][:]...)
		b = append(b, ',')
		b = append(b, payer...)
		b = append(b, ',')
		b = append(b, e.class...)
		b = append(b, ',')
		b = append(b, e.typ.code...)
		b = append(b, ',')
		b = appendClean(b, e.typ.name)
		b = append(b, ',')
		b = appendMoney(b, e.base)
		b = append(b, ',')
		b = appendMoney(b, e.total)
		b = append(b, ',')
		b = appendMoney(b, e.payCov)
		b = append(b, ',')
		b = append(b, e.reason.code...)
		b = append(b, ',')
		b = appendClean(b, e.reason.name)
		o.buf = b
		o.endRow()
	}

	// conditions.csv
	o = s.cond
	for i := range p.conds {
		c := &p.conds[i]
		b := appendDate(o.buf, c.start)
		b = append(b, ',')
		if c.stop >= c.start {
			b = appendDate(b, c.stop)
		}
		b = append(b, ',')
		b = append(b, p.id[:]...)
		b = append(b, ',')
		b = append(b, p.encs[c.enc].id[:]...)
		b = append(b, ',')
		b = append(b, c.code...)
		b = append(b, ',')
		b = appendClean(b, c.name)
		o.buf = b
		o.endRow()
	}

	// medications.csv
	o = s.med
	for i := range p.meds {
		m := &p.meds[i]
		b := appendTime(o.buf, m.start)
		b = append(b, ',')
		if m.stop != 0 {
			b = appendTime(b, m.stop)
		}
		b = append(b, ',')
		b = append(b, p.id[:]...)
		b = append(b, ',')
		b = append(b, payer...)
		b = append(b, ',')
		b = append(b, p.encs[m.enc].id[:]...)
		b = append(b, ',')
		b = append(b, m.code...)
		b = append(b, ',')
		b = appendClean(b, m.name)
		b = append(b, ',')
		b = appendMoney(b, m.base)
		b = append(b, ',')
		b = appendMoney(b, m.payCov)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(m.dispenses), 10)
		b = append(b, ',')
		b = appendMoney(b, m.base*float64(m.dispenses))
		b = append(b, ',')
		b = append(b, m.reason.code...)
		b = append(b, ',')
		b = appendClean(b, m.reason.name)
		o.buf = b
		o.endRow()
	}

	// immunizations.csv
	o = s.imm
	for i := range p.imms {
		im := &p.imms[i]
		b := appendTime(o.buf, im.t)
		b = append(b, ',')
		b = append(b, p.id[:]...)
		b = append(b, ',')
		b = append(b, p.encs[im.enc].id[:]...)
		b = append(b, ',')
		b = append(b, im.code...)
		b = append(b, ',')
		b = appendClean(b, im.name)
		b = append(b, ',')
		b = appendMoney(b, im.cost)
		o.buf = b
		o.endRow()
	}

	// observations.csv
	o = s.obs
	for i := range p.obs {
		ob := &p.obs[i]
		b := appendTime(o.buf, ob.t)
		b = append(b, ',')
		b = append(b, p.id[:]...)
		b = append(b, ',')
		b = append(b, p.encs[ob.enc].id[:]...)
		b = append(b, ',')
		b = append(b, ob.def.category...)
		b = append(b, ',')
		b = append(b, ob.def.code...)
		b = append(b, ',')
		b = appendClean(b, ob.def.name)
		b = append(b, ',')
		if ob.def.unit == "" && ob.text != "" {
			b = appendClean(b, ob.text)
			b = append(b, ",,text"...)
		} else {
			b = strconv.AppendFloat(b, ob.value, 'f', 1, 64)
			b = append(b, ',')
			b = append(b, ob.def.unit...)
			b = append(b, ",numeric"...)
		}
		o.buf = b
		o.endRow()
	}

	// procedures.csv
	o = s.proc
	for i := range p.procs {
		pr := &p.procs[i]
		b := appendTime(o.buf, pr.start)
		b = append(b, ',')
		b = appendTime(b, pr.stop)
		b = append(b, ',')
		b = append(b, p.id[:]...)
		b = append(b, ',')
		b = append(b, p.encs[pr.enc].id[:]...)
		b = append(b, ',')
		b = append(b, pr.code...)
		b = append(b, ',')
		b = appendClean(b, pr.name)
		b = append(b, ',')
		b = appendMoney(b, pr.cost)
		b = append(b, ',')
		b = append(b, pr.reason.code...)
		b = append(b, ',')
		b = appendClean(b, pr.reason.name)
		o.buf = b
		o.endRow()
	}
	return firstErr(s.all)
}
