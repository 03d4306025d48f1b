package deid

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/scrub"
	"github.com/cohortnet/cohortnet/deid/source"
)

// Person status.
const (
	kept uint8 = iota
	optedOut
	kSuppressed
)

// person is what de-identification keeps about one person for the whole
// run: 48 bytes of numbers, no pointers, so a million persons are one
// object for the garbage collector. What only the person table and the
// k-anonymity search need is in [personAttrs].
type person struct {
	// ident locates the identifiers for scrubbing the person's notes in
	// run.idents (see [identFile.add]); zero when the export has no notes.
	ident    uint64
	id       [pseudonymBytes]byte // person_id (pseudonym or surrogate), before base32
	status   uint8
	hasBirth bool
	hasFirst bool
	topCoded bool
	hasYob   bool // yob is set, from the birth date or from the age (see deriveYob)
	shift    int32
	birth    int32
	first    int32  // first record (intervals)
	yob      int32  // published year of birth (top-coded)
	check    uint32 // second hash of the source id (see personIndex)
}

// personAttrs is the rest of what is read about a person, kept beside
// run.persons until the person table is written (run.attrs), then dropped.
type personAttrs struct {
	death    int32
	tuple    int32   // k-anonymity tuple
	age      float32 // age_years at the report (sources without birth dates, such as FAERS), -1 when absent
	hasDeath bool
	// categorical values as codes into run.cats (4 bytes instead of 16)
	gender, race, eth, zip3, zip5, state, city uint32
}

// catalog numbers the distinct categorical values (gender, race, ZIP3...),
// so a million persons cost a few distinct strings. Code 0 is "".
type catalog struct {
	codes map[string]uint32
	vals  []string
}

func (c *catalog) code(s string) uint32 {
	if s == "" {
		return 0
	}
	if c.codes == nil {
		c.codes = map[string]uint32{}
		c.vals = []string{""}
	}
	if v, ok := c.codes[s]; ok {
		return v
	}
	s = strings.Clone(s) // detach from the Arrow buffer
	v := uint32(len(c.vals))
	c.codes[s] = v
	c.vals = append(c.vals, s)
	return v
}

func (c *catalog) str(code uint32) string {
	if code == 0 {
		return ""
	}
	return c.vals[code]
}

// cols finds the columns of a record batch by name.
type cols struct {
	rec arrow.RecordBatch
	idx map[string]int
}

func newCols(rec arrow.RecordBatch) cols {
	c := cols{rec: rec, idx: map[string]int{}}
	for i, f := range rec.Schema().Fields() {
		c.idx[f.Name] = i
	}
	return c
}

func (c cols) str(name string) (*array.String, error) {
	i, ok := c.idx[name]
	if !ok {
		return nil, nil
	}
	a, ok := c.rec.Column(i).(*array.String)
	if !ok {
		return nil, fmt.Errorf("column %s is %s, want string", name, c.rec.Column(i).DataType())
	}
	return a, nil
}

func (c cols) date(name string) (*array.Date32, error) {
	i, ok := c.idx[name]
	if !ok {
		return nil, nil
	}
	a, ok := c.rec.Column(i).(*array.Date32)
	if !ok {
		return nil, fmt.Errorf("column %s is %s, want date32", name, c.rec.Column(i).DataType())
	}
	return a, nil
}

func sv(a *array.String, i int) string {
	if a == nil || a.IsNull(i) {
		return ""
	}
	return a.Value(i)
}

func (c cols) f64(name string) (*array.Float64, error) {
	i, ok := c.idx[name]
	if !ok {
		return nil, nil
	}
	a, ok := c.rec.Column(i).(*array.Float64)
	if !ok {
		return nil, fmt.Errorf("column %s is %s, want float64", name, c.rec.Column(i).DataType())
	}
	return a, nil
}

func fv(a *array.Float64, i int) (float64, bool) {
	if a == nil || a.IsNull(i) {
		return 0, false
	}
	return a.Value(i), true
}

func dv(a *array.Date32, i int) (int32, bool) {
	if a == nil || a.IsNull(i) {
		return 0, false
	}
	return int32(a.Value(i)), true
}

// readPersons reads the person table into memory (a few dozen bytes per
// person) and applies opt-out, pseudonyms, shifts and top-coding.
func (r *run) readPersons(ctx context.Context) error {
	src, err := r.exp.Read(ctx, source.Person)
	if err != nil {
		return fmt.Errorf("read person: %w", err)
	}
	rd := prefetch(src, 4)
	defer rd.Release()
	in := &r.cats
	ref := r.refDays
	refYear := yearOf(ref)
	withIdent := r.hasNotes
	for rd.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := rd.RecordBatch()
		c := newCols(rec)
		strCols := map[string]*array.String{}
		get := func(name string) *array.String {
			if a, ok := strCols[name]; ok {
				return a
			}
			a, e := c.str(name)
			strCols[name] = a
			if e != nil && err == nil {
				err = fmt.Errorf("read person: %w", e)
			}
			return a
		}
		ids, gender, race, eth, zip, state, city := get("source_person_id"), get("gender"), get("race"), get("ethnicity"), get("zip"), get("state"), get("city")
		ages, e3 := c.f64("age_years")
		if err == nil && e3 != nil {
			err = fmt.Errorf("read person: %w", e3)
		}
		births, e1 := c.date("birth_date")
		deaths, e2 := c.date("death_date")
		if err == nil && e1 != nil {
			err = fmt.Errorf("read person: %w", e1)
		}
		if err == nil && e2 != nil {
			err = fmt.Errorf("read person: %w", e2)
		}
		if err != nil {
			return err
		}
		if ids == nil {
			return fmt.Errorf("read person: no source_person_id column")
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			r.tables[source.Person].RowsIn++
			sid := sv(ids, i)
			if sid == "" {
				return fmt.Errorf("read person: row %d: empty source_person_id", r.tables[source.Person].RowsIn)
			}
			h, check := r.index.key(sid)
			if _, dup := r.index.find(h, check, r.persons); dup {
				return fmt.Errorf("read person: row %d: source_person_id listed twice", r.tables[source.Person].RowsIn)
			}
			p := person{check: check}
			at := personAttrs{
				gender: in.code(sv(gender, i)), race: in.code(sv(race, i)), eth: in.code(sv(eth, i)),
				state: in.code(sv(state, i)), zip3: in.code(ToZip3(sv(zip, i))),
			}
			if r.pol.Mode == Limited {
				at.city = in.code(sv(city, i))
				at.zip5 = in.code(ToZip5(sv(zip, i)))
			}
			if r.optOut[sid] {
				p.status = optedOut
				r.report.Suppressed.OptOut++
			}
			if r.pol.Mode != SafeHarbor {
				p.shift = r.keyed.shift(sid, max(r.pol.DateShiftDays, 180))
			}
			p.birth, p.hasBirth = dv(births, i)
			at.death, at.hasDeath = dv(deaths, i)
			at.age = -1
			if a, ok := fv(ages, i); ok && !p.hasBirth && a >= 0 && a < 200 {
				at.age = float32(a)
				r.fromAge++
			}
			if p.hasBirth {
				p.hasYob = true
				b := p.birth
				if r.pol.Mode == Expert {
					b += p.shift
				}
				p.yob = yearOf(b)
				if tc := int32(r.pol.AgeTopCode); tc > 0 && ageAt(p.birth, ref) >= tc {
					p.topCoded = true
					p.yob = refYear - tc
				}
			}
			if withIdent {
				if p.ident, err = r.idents.add(packIdentity(func(col string) string { return sv(get(col), i) })); err != nil {
					return fmt.Errorf("read person: row %d: %w", r.tables[source.Person].RowsIn, err)
				}
			}
			r.index.Insert(h, int32(len(r.persons)))
			r.persons = append(r.persons, p)
			r.attrs = append(r.attrs, at)
			if r.pol.Mode == SafeHarbor && p.status == kept {
				id, err := r.personIDs.get(sid)
				if err != nil {
					return err
				}
				r.persons[len(r.persons)-1].id = id
			} else if p.status == kept {
				copy(r.persons[len(r.persons)-1].id[:], r.keyed.sum("person", sid))
			}
		}
	}
	if err := rd.Err(); err != nil {
		return fmt.Errorf("read person: %w", err)
	}
	if withIdent {
		return r.idents.done()
	}
	return nil
}

// qiValue returns person p's value of a person quasi-identifier, as the
// hierarchy sees it, or nil for null.
func (r *run) qiValue(p *person, a *personAttrs, qi string) *string {
	var v string
	switch qi {
	case "year_of_birth":
		if !p.hasYob {
			return nil
		}
		v = strconv.Itoa(int(p.yob))
	case "gender":
		v = r.cats.str(a.gender)
	case "race":
		v = r.cats.str(a.race)
	case "ethnicity":
		v = r.cats.str(a.eth)
	case "zip3":
		if r.customHier["zip3"] {
			v = r.cats.str(a.zip3)
		} else {
			if a.zip3 == 0 && a.state == 0 {
				return nil
			}
			v = r.cats.str(a.zip3) + "|" + r.cats.str(a.state)
		}
	}
	if v == "" {
		return nil
	}
	return &v
}

// identityColumns are the person columns packed for scrubbing notes, in order.
var identityColumns = []string{"given_name", "family_name", "maiden_name", "ssn", "mrn", "drivers_license", "passport",
	"zip", "source_person_id", "phone", "email", "address_line", "city", "county", "birthplace"}

// packIdentity packs a person's identifiers into one string (fields joined by
// 0x1f): a few dozen bytes per person instead of a dozen string headers.
func packIdentity(get func(col string) string) string {
	var b strings.Builder
	for i, c := range identityColumns {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		b.WriteString(strings.ReplaceAll(get(c), "\x1f", " "))
	}
	return b.String()
}

// identity reads p's identifiers back, using buf as scratch space (it returns
// buf, perhaps grown); nil when there are none.
func (r *run) identity(p *person, buf []byte) (*scrub.Identity, []byte, error) {
	if r.idents == nil || p.ident == 0 {
		return nil, buf, nil
	}
	buf, err := r.idents.get(p.ident, buf)
	if err != nil {
		return nil, buf, err
	}
	f := strings.Split(string(buf), "\x1f")
	return identityOf(func(col string) string {
		if i := slices.Index(identityColumns, col); i >= 0 && i < len(f) {
			return f[i]
		}
		return ""
	}, p.birth, p.hasBirth), buf, nil
}

// identityOf collects a person's identifiers for scrubbing their notes.
func identityOf(get func(col string) string, birth int32, hasBirth bool) *scrub.Identity {
	id := &scrub.Identity{}
	for _, c := range []string{"given_name", "family_name", "maiden_name"} {
		if v := get(c); v != "" {
			id.Names = append(id.Names, v)
		}
	}
	for _, c := range []string{"ssn", "mrn", "drivers_license", "passport", "zip", "source_person_id"} {
		if v := get(c); v != "" {
			id.IDs = append(id.IDs, v)
		}
	}
	if v := get("phone"); v != "" {
		id.Phones = append(id.Phones, v)
	}
	if v := get("email"); v != "" {
		id.Emails = append(id.Emails, v)
	}
	for _, c := range []string{"address_line", "city", "county", "birthplace"} {
		if v := get(c); v != "" {
			id.Addresses = append(id.Addresses, v)
		}
	}
	if hasBirth {
		y, m, d := civil(birth)
		id.Dates = append(id.Dates, scrub.CalendarDate{Year: int(y), Month: int(m), Day: int(d)})
	}
	return id
}

// Identities reads the person table of an export and returns each person's
// identifiers by source patient id, for scrubbing notes outside a full run
// (`deid scrub --export`). It holds PHI: keep it in memory only.
func Identities(ctx context.Context, exp source.Export) (map[string]*scrub.Identity, error) {
	rd, err := exp.Read(ctx, source.Person)
	if err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	defer rd.Release()
	out := map[string]*scrub.Identity{}
	for rd.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := newCols(rd.RecordBatch())
		births, err := c.date("birth_date")
		if err != nil {
			return nil, fmt.Errorf("read person: %w", err)
		}
		strCols := map[string]*array.String{}
		for name := range c.idx {
			if a, err := c.str(name); err == nil && a != nil {
				strCols[name] = a
			}
		}
		for i := 0; i < int(c.rec.NumRows()); i++ {
			sid := sv(strCols["source_person_id"], i)
			if sid == "" {
				continue
			}
			b, ok := dv(births, i)
			out[sid] = identityOf(func(col string) string { return strings.Clone(sv(strCols[col], i)) }, b, ok)
		}
	}
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	return out, nil
}

// appendID appends p's person_id (base32 of the raw id) without allocating.
func appendID(b array.Builder, p *person) {
	var buf [24]byte
	pseudonymEncoding.Encode(buf[:], p.id[:])
	b.(*array.StringBuilder).BinaryBuilder.Append(buf[:])
}
