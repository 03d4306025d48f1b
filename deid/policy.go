package deid

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"gopkg.in/yaml.v3"

	"github.com/cohortnet/cohortnet/deid/source"
)

// Mode is a de-identification regime (see DESIGN.md, "De-identification").
type Mode string

const (
	// Expert is expert-determination style release: per-person date shifts,
	// keyed pseudonyms, k-anonymity and a risk report. The default.
	Expert Mode = "expert"
	// SafeHarbor is HIPAA Safe Harbor (45 CFR 164.514(b)(2)): years (or day
	// offsets) instead of dates, random surrogate ids, 3-digit ZIPs.
	SafeHarbor Mode = "safe-harbor"
	// Limited is a HIPAA Limited Data Set: real dates, city and 5-digit ZIP,
	// direct identifiers removed.
	Limited Mode = "limited"
)

// Modes lists the modes.
var Modes = []Mode{Expert, SafeHarbor, Limited}

// Transform names what happens to one output column.
type Transform string

// The transforms a policy can name.
const (
	Keep         Transform = "keep"         // copied as is
	Drop         Transform = "drop"         // column left out
	Pseudonymize Transform = "pseudonymize" // keyed HMAC-SHA256 of the source id
	Surrogate    Transform = "surrogate"    // random id, mapping kept in <data>/deid
	Shift        Transform = "shift"        // date moved by the person's secret offset
	Year         Transform = "year"         // date reduced to its year (integer)
	Day          Transform = "day"          // date as days since the person's first record
	Zip3         Transform = "zip3"         // first three ZIP digits, restricted prefixes 000
	Zip5         Transform = "zip5"         // first five ZIP digits
	Scrub        Transform = "scrub"        // free text with PHI replaced by typed tags
	Generalize   Transform = "generalize"   // quasi-identifier (deid table): generalized along its hierarchy
	Sensitive    Transform = "sensitive"    // sensitive attribute (deid table): kept, l-diversity checked
)

// PolicyFormat is the value of [Policy.Format].
const PolicyFormat = "cohortnet-deid-policy/1"

// DefaultQuasiIdentifiers are the quasi-identifiers of the person table used
// for k-anonymity unless a policy names others.
var DefaultQuasiIdentifiers = []string{"year_of_birth", "gender", "zip3", "race", "ethnicity"}

// Policy says what de-identification does. Its YAML form is policy.yaml.
// A policy file may give only some fields: [ParsePolicy] fills the rest from
// the preset of its mode.
type Policy struct {
	Format string `yaml:"format"`
	Mode   Mode   `yaml:"mode"`
	// ReferenceDate (YYYY-MM-DD) is the date ages are measured at.
	ReferenceDate string `yaml:"reference_date"`
	// Intervals: in safe-harbor mode, dates become days since the person's
	// first record (X_day) instead of years (X_year).
	Intervals bool `yaml:"intervals"`
	// AgeTopCode: a person this old or older at the reference date appears
	// exactly this old (year_of_birth raised). 0 disables it.
	AgeTopCode int `yaml:"age_top_code"`
	// DateShiftDays bounds the per-person date offset in expert mode: offsets
	// are in [-DateShiftDays, -1] and [1, DateShiftDays].
	DateShiftDays int `yaml:"date_shift_days,omitempty"`
	// KAnonymity, when set with K > 1, makes the person table k-anonymous.
	KAnonymity *KAnonymity `yaml:"k_anonymity,omitempty"`
	// Tables maps table name to output column to transform. Columns a table
	// has in the preset but not here take the preset's transform.
	Tables map[string]map[string]Transform `yaml:"tables"`
}

// KAnonymity configures the privacy model.
type KAnonymity struct {
	K int `yaml:"k"`
	// MaxSuppression is the largest share of records (0..1) that may be
	// suppressed to reach k.
	MaxSuppression float64 `yaml:"max_suppression"`
	// QuasiIdentifiers are output columns of the person table (or of the
	// plain table in `deid table`).
	QuasiIdentifiers []string `yaml:"quasi_identifiers"`
	// Hierarchies maps a quasi-identifier to an ARX hierarchy CSV file;
	// the others use a built-in hierarchy.
	Hierarchies map[string]string `yaml:"hierarchies,omitempty"`
	// Sensitive names an attribute for distinct l-diversity (L > 1).
	Sensitive string `yaml:"sensitive,omitempty"`
	L         int    `yaml:"l,omitempty"`
}

// ErrPolicy is wrapped by every error about a policy's content; the caller
// should show it to the user, who must fix the policy file or flags.
var ErrPolicy = errors.New("invalid policy")

func policyErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPolicy}, args...)...)
}

// column is one output column of a cohort data model table.
type column struct {
	name      string         // output name
	src       string         // identified source column
	typ       arrow.DataType // output type
	preset    Transform
	allowed   []Transform // besides preset and Drop
	isDate    bool
	dateField string // for dates: the X in X_date
}

func dateOut(mode Mode, intervals bool, src string) (string, arrow.DataType, Transform, []Transform) {
	base := strings.TrimSuffix(src, "_date")
	switch mode {
	case SafeHarbor:
		if intervals {
			return base + "_day", arrow.PrimitiveTypes.Int32, Day, nil
		}
		return base + "_year", arrow.PrimitiveTypes.Int32, Year, nil
	case Limited:
		return src, arrow.FixedWidthTypes.Date32, Keep, []Transform{Shift}
	default:
		return src, arrow.FixedWidthTypes.Date32, Shift, nil
	}
}

// columns returns the output columns of table in mode, in output order.
func columns(mode Mode, intervals bool, table string) []column {
	idT := Pseudonymize
	if mode == SafeHarbor {
		idT = Surrogate
	}
	str := arrow.BinaryTypes.String
	i32 := arrow.PrimitiveTypes.Int32
	date := func(src string) column {
		n, t, p, a := dateOut(mode, intervals, src)
		return column{name: n, src: src, typ: t, preset: p, allowed: a, isDate: true}
	}
	keep := func(src string) column {
		f, _ := source.Schema(table).FieldsByName(src)
		return column{name: src, src: src, typ: f[0].Type, preset: Keep}
	}
	if table == source.Person {
		cols := []column{
			{name: "person_id", src: "source_person_id", typ: str, preset: idT},
			keep("gender"),
			{name: "year_of_birth", src: "birth_date", typ: i32, preset: Year},
		}
		if mode == Limited {
			cols = append(cols, column{name: "birth_date", src: "birth_date", typ: arrow.FixedWidthTypes.Date32, preset: Keep, isDate: true})
		}
		cols = append(cols, keep("race"), keep("ethnicity"),
			column{name: "zip3", src: "zip", typ: str, preset: Zip3})
		if mode == Limited {
			cols = append(cols, keep("city"), column{name: "zip", src: "zip", typ: str, preset: Zip5})
		}
		cols = append(cols, keep("state"), date("death_date"))
		return cols
	}
	sch := source.Schema(table)
	if sch == nil {
		return nil
	}
	var cols []column
	for _, f := range sch.Fields() {
		switch {
		case f.Name == "source_person_id":
			cols = append(cols, column{name: "person_id", src: f.Name, typ: str, preset: idT})
		case f.Name == "source_visit_id":
			cols = append(cols, column{name: "visit_occurrence_id", src: f.Name, typ: str, preset: idT})
		case f.Name == "source_note_id":
			// the note's own id is the export's; it adds nothing to the dataset
		case f.Name == "note_text":
			cols = append(cols, column{name: f.Name, src: f.Name, typ: str, preset: Scrub})
		case arrow.TypeEqual(f.Type, arrow.FixedWidthTypes.Date32):
			cols = append(cols, date(f.Name))
		default:
			cols = append(cols, keep(f.Name))
		}
	}
	return cols
}

// Preset returns the complete policy of a mode, with the reference date
// ref (YYYY-MM-DD).
func Preset(mode Mode, intervals bool, ref string) *Policy {
	p := &Policy{Format: PolicyFormat, Mode: mode, ReferenceDate: ref, Tables: map[string]map[string]Transform{}}
	if mode == SafeHarbor {
		p.Intervals = intervals
	}
	if mode != Limited {
		p.AgeTopCode = 90
	}
	if mode == Expert {
		p.DateShiftDays = 365
		p.KAnonymity = &KAnonymity{K: 11, MaxSuppression: 0.05, QuasiIdentifiers: slices.Clone(DefaultQuasiIdentifiers)}
	}
	for _, t := range source.Tables {
		m := map[string]Transform{}
		for _, c := range columns(mode, p.Intervals, t) {
			m[c.name] = c.preset
		}
		p.Tables[t] = m
	}
	return p
}

// ParsePolicy reads a policy file: YAML with the fields of [Policy]. Unknown
// fields are errors. Fields it leaves out come from the preset of its mode
// (expert when absent), with defaults for what the caller passes: mode,
// intervals and reference date given by flags apply when the file is silent.
// The result is validated with [Policy.Validate].
func ParsePolicy(data []byte, defaults *Policy) (*Policy, error) {
	var raw struct {
		Format        string                          `yaml:"format"`
		Mode          *Mode                           `yaml:"mode"`
		ReferenceDate *string                         `yaml:"reference_date"`
		Intervals     *bool                           `yaml:"intervals"`
		AgeTopCode    *int                            `yaml:"age_top_code"`
		DateShiftDays *int                            `yaml:"date_shift_days"`
		KAnonymity    *KAnonymity                     `yaml:"k_anonymity"`
		Tables        map[string]map[string]Transform `yaml:"tables"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, policyErr("%s", yamlError(err))
	}
	if raw.Format != "" && raw.Format != PolicyFormat {
		return nil, policyErr("format %q: want %q", raw.Format, PolicyFormat)
	}
	if defaults == nil {
		defaults = &Policy{Mode: Expert}
	}
	mode, intervals, ref := defaults.Mode, defaults.Intervals, defaults.ReferenceDate
	if raw.Mode != nil {
		mode = *raw.Mode
	}
	if mode == "" {
		mode = Expert
	}
	if !slices.Contains(Modes, mode) {
		return nil, policyErr("mode %q: use expert, safe-harbor or limited", mode)
	}
	if raw.Intervals != nil {
		intervals = *raw.Intervals
	}
	if intervals && mode != SafeHarbor {
		return nil, policyErr("intervals apply to safe-harbor mode only (mode is %s)", mode)
	}
	if raw.ReferenceDate != nil {
		ref = *raw.ReferenceDate
	}
	p := Preset(mode, intervals, ref)
	if raw.AgeTopCode != nil {
		p.AgeTopCode = *raw.AgeTopCode
	}
	if raw.DateShiftDays != nil {
		p.DateShiftDays = *raw.DateShiftDays
	}
	if raw.KAnonymity != nil {
		k := *raw.KAnonymity
		if k.QuasiIdentifiers == nil {
			k.QuasiIdentifiers = slices.Clone(DefaultQuasiIdentifiers)
		}
		p.KAnonymity = &k
	}
	for t, cols := range raw.Tables {
		if _, ok := p.Tables[t]; !ok {
			return nil, policyErr("unknown table %q (tables: %s)", t, strings.Join(source.Tables, ", "))
		}
		for c, tr := range cols {
			if _, ok := p.Tables[t][c]; !ok {
				return nil, policyErr("table %s: unknown column %q in mode %s (columns: %s)", t, c, mode, strings.Join(columnNames(mode, intervals, t), ", "))
			}
			p.Tables[t][c] = tr
		}
	}
	if k := p.KAnonymity; k != nil && (raw.KAnonymity == nil || raw.KAnonymity.QuasiIdentifiers == nil) {
		// default quasi-identifiers the policy drops are simply not released
		k.QuasiIdentifiers = slices.DeleteFunc(k.QuasiIdentifiers, func(q string) bool { return p.Tables[source.Person][q] == Drop })
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// yamlError makes a YAML decoding error one line, without Go type names.
func yamlError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var msgs []string
		for _, m := range te.Errors {
			m, _, _ = strings.Cut(m, " in type ")
			msgs = append(msgs, m)
		}
		return strings.Join(msgs, "; ")
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func columnNames(mode Mode, intervals bool, table string) []string {
	var names []string
	for _, c := range columns(mode, intervals, table) {
		names = append(names, c.name)
	}
	return names
}

// referenceTime parses the reference date.
func (p *Policy) referenceTime() (time.Time, error) {
	t, err := time.Parse(time.DateOnly, p.ReferenceDate)
	if err != nil {
		return time.Time{}, policyErr("reference_date %q: use YYYY-MM-DD", p.ReferenceDate)
	}
	return t, nil
}

// Validate checks that the policy is complete and consistent with its mode:
// every table and column known, every transform allowed for its column in the
// mode, sane k-anonymity settings.
func (p *Policy) Validate() error {
	if !slices.Contains(Modes, p.Mode) {
		return policyErr("mode %q: use expert, safe-harbor or limited", p.Mode)
	}
	if p.Intervals && p.Mode != SafeHarbor {
		return policyErr("intervals apply to safe-harbor mode only (mode is %s)", p.Mode)
	}
	ref, err := p.referenceTime()
	if err != nil {
		return err
	}
	if ref.Year() < 1900 || ref.Year() > 2200 {
		return policyErr("reference_date %s is out of range", p.ReferenceDate)
	}
	if p.AgeTopCode < 0 || p.AgeTopCode > 150 {
		return policyErr("age_top_code %d: use 0 (off) or an age up to 150", p.AgeTopCode)
	}
	if p.Mode == SafeHarbor && (p.AgeTopCode == 0 || p.AgeTopCode > 90) {
		return policyErr("safe-harbor mode needs age_top_code at most 90 (ages over 89 aggregated), got %d", p.AgeTopCode)
	}
	if p.Mode == Expert && (p.DateShiftDays < 180 || p.DateShiftDays > 3650) {
		return policyErr("date_shift_days %d: use 180 to 3650 in expert mode", p.DateShiftDays)
	}
	for t, cols := range p.Tables {
		spec := columns(p.Mode, p.Intervals, t)
		if spec == nil {
			return policyErr("unknown table %q (tables: %s)", t, strings.Join(source.Tables, ", "))
		}
		for name, tr := range cols {
			i := slices.IndexFunc(spec, func(c column) bool { return c.name == name })
			if i < 0 {
				return policyErr("table %s: unknown column %q in mode %s (columns: %s)", t, name, p.Mode, strings.Join(columnNames(p.Mode, p.Intervals, t), ", "))
			}
			c := spec[i]
			if tr != c.preset && tr != Drop && !slices.Contains(c.allowed, tr) {
				ok := append([]string{string(c.preset), string(Drop)}, transformsString(c.allowed)...)
				return policyErr("table %s column %s: transform %q is not allowed in mode %s (allowed: %s)", t, name, tr, p.Mode, strings.Join(ok, ", "))
			}
		}
	}
	if k := p.KAnonymity; k != nil {
		if k.K < 0 || k.K > 1_000_000 {
			return policyErr("k_anonymity.k %d: use 0 (off) to 1000000", k.K)
		}
		if !(k.MaxSuppression >= 0 && k.MaxSuppression <= 1) {
			return policyErr("k_anonymity.max_suppression %v: use a share between 0 and 1", k.MaxSuppression)
		}
		if k.L < 0 || (k.L > 1 && k.Sensitive == "") {
			return policyErr("k_anonymity.l %d needs a sensitive attribute", k.L)
		}
		seen := map[string]bool{}
		for _, q := range k.QuasiIdentifiers {
			if seen[q] {
				return policyErr("k_anonymity: quasi-identifier %q named twice", q)
			}
			seen[q] = true
			if !slices.Contains(personQIs, q) {
				return policyErr("k_anonymity: quasi-identifier %q: use columns of the person table (%s)", q, strings.Join(personQIs, ", "))
			}
			if p.Tables[source.Person][q] == Drop {
				return policyErr("k_anonymity: quasi-identifier %q is dropped by the policy", q)
			}
		}
		for q := range k.Hierarchies {
			if !seen[q] {
				return policyErr("k_anonymity: hierarchy for %q, which is not a quasi-identifier", q)
			}
		}
		if k.Sensitive != "" {
			return policyErr("k_anonymity: sensitive attributes are supported by `deid table`, not on the cohort data model")
		}
	}
	return nil
}

// personQIs are the person columns that can be quasi-identifiers.
var personQIs = []string{"year_of_birth", "gender", "zip3", "race", "ethnicity"}

func transformsString(ts []Transform) []string {
	var s []string
	for _, t := range ts {
		s = append(s, string(t))
	}
	return s
}

// kEnabled reports whether the policy asks for k-anonymity.
func (p *Policy) kEnabled() bool {
	return p.KAnonymity != nil && p.KAnonymity.K > 1 && len(p.KAnonymity.QuasiIdentifiers) > 0
}

// Marshal encodes the policy as YAML, deterministically (map keys sorted).
func (p *Policy) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# cohortnet de-identification policy, as applied (presets expanded)\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// transform returns the transform of a table's column under p.
func (p *Policy) transform(table string, c column) Transform {
	if tr, ok := p.Tables[table][c.name]; ok {
		return tr
	}
	return c.preset
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
