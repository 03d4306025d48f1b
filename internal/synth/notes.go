package synth

import (
	"strconv"
	"strings"
)

// PHI span types in notes.phi.jsonl.
const (
	PHIName    = "NAME"    // a person's name; Role says whose
	PHIDate    = "DATE"    // a date in one of several formats
	PHIAge     = "AGE"     // an age in years
	PHIPhone   = "PHONE"   // a telephone number
	PHIEmail   = "EMAIL"   // an e-mail address
	PHISSN     = "SSN"     // a social security number
	PHIMRN     = "MRN"     // a medical record number
	PHIAddress = "ADDRESS" // a street address line
	PHICity    = "CITY"    // a town
	PHIZIP     = "ZIP"     // a five-digit ZIP code
	PHIFax     = "FAX"     // a fax number
	PHIURL     = "URL"     // a web address that leads to the patient
	PHIIP      = "IP"      // an IP address of a patient's device
	PHIID      = "ID"      // another identifier: licence, insurance member id
)

// Span is one planted identifier in a note: Text is exactly the bytes
// [Start, End) of the note's text.
type Span struct {
	Start int    `json:"start"`
	End   int    `json:"end"`
	Type  string `json:"type"`
	Role  string `json:"role,omitempty"` // for names: patient, relative or clinician
	Text  string `json:"text"`
}

// Note is one line of notes.jsonl.
type Note struct {
	ID        string `json:"id"`
	Patient   string `json:"patient"`
	Encounter string `json:"encounter"`
	Date      string `json:"date"`
	Type      string `json:"type"`
	Text      string `json:"text"`
}

// NotePHI is one line of notes.phi.jsonl: the spans of every identifier
// planted in the note with the same ID.
type NotePHI struct {
	ID    string `json:"id"`
	Spans []Span `json:"spans"`
}

type note struct {
	id    uuid
	enc   int
	day   int32
	typ   string
	text  []byte
	spans []Span
}

var docNets = []string{"192.0.2.", "198.51.100.", "203.0.113."}

var monthNames = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// noteBuilder writes note text and records where identifiers went.
type noteBuilder struct {
	b     []byte
	spans []Span
}

func (nb *noteBuilder) lit(s string) { nb.b = append(nb.b, s...) }

func (nb *noteBuilder) phi(typ, role, s string) {
	start := len(nb.b)
	nb.b = append(nb.b, s...)
	nb.spans = append(nb.spans, Span{Start: start, End: len(nb.b), Type: typ, Role: role, Text: s})
}

func (g *generator) dateText(day int32) string {
	y, m, d := civil(day)
	switch g.r.IntN(5) {
	case 0:
		return string(appendDate(nil, day))
	case 1:
		return pad2(m) + "/" + pad2(d) + "/" + strconv.Itoa(y)
	case 2:
		return monthNames[m-1] + " " + strconv.Itoa(d) + ", " + strconv.Itoa(y)
	case 3:
		return strconv.Itoa(d) + " " + monthNames[m-1][:3] + " " + strconv.Itoa(y)
	default:
		return strconv.Itoa(m) + "/" + strconv.Itoa(d) + "/" + pad2(y%100)
	}
}

func pad2(v int) string {
	if v < 10 {
		return "0" + strconv.Itoa(v)
	}
	return strconv.Itoa(v)
}

func (g *generator) phoneText(p string) string {
	// p is 555-XXX-XXXX
	switch g.r.IntN(3) {
	case 0:
		return "(" + p[:3] + ") " + p[4:]
	case 1:
		return p[:3] + "." + p[4:7] + "." + p[8:]
	default:
		return p
	}
}

// note writes a clinical note for encounter ei with identifiers embedded the
// way real notes carry them.
func (g *generator) note(p *patient, ei int, pl *plan, age int) {
	r := g.r
	e := &p.encs[ei]
	nb := noteBuilder{b: make([]byte, 0, 768)}
	he, his := "He", "his"
	if p.gender == 'F' {
		he, his = "She", "her"
	}
	typ := "Progress note"
	switch e.class {
	case classEmergency:
		typ = "Emergency department note"
	case classInpatient:
		typ = "Discharge summary"
	case classWellness:
		typ = "History and physical note"
	}
	if pl.kind == kDeath {
		typ = "Death note"
	}
	clin := g.provNames[e.provider]
	title := pick(g, clinicianTitles)

	// Header lines.
	nb.lit("Patient: ")
	nb.phi(PHIName, "patient", p.first+" "+p.last)
	nb.lit("  MRN: ")
	nb.phi(PHIMRN, "", p.mrn)
	nb.lit("  DOB: ")
	nb.phi(PHIDate, "birth", g.dateText(p.birth))
	nb.lit("\nDate of service: ")
	nb.phi(PHIDate, "service", g.dateText(pl.day))
	nb.lit("\n\n")

	// Opening sentence.
	switch r.IntN(3) {
	case 0:
		nb.phi(PHIName, "patient", p.first+" "+p.last)
		nb.lit(" is a ")
		nb.phi(PHIAge, "", strconv.Itoa(age))
		nb.lit("-year-old ")
	case 1:
		if p.prefix != "" {
			nb.phi(PHIName, "patient", p.prefix+" "+p.last)
		} else {
			nb.phi(PHIName, "patient", p.first)
		}
		nb.lit(", a ")
		nb.phi(PHIAge, "", strconv.Itoa(age))
		nb.lit(" yo ")
	default:
		nb.phi(PHIName, "patient", p.last+", "+p.first)
		nb.lit(" (age ")
		nb.phi(PHIAge, "", strconv.Itoa(age))
		nb.lit(") is a ")
	}
	switch {
	case age < 18 && p.gender == 'F':
		nb.lit("girl")
	case age < 18:
		nb.lit("boy")
	case p.gender == 'F':
		nb.lit("woman")
	default:
		nb.lit("man")
	}
	if e.reason.name != "" {
		nb.lit(" seen for ")
		nb.lit(lowerFirst(e.reason.name))
	} else {
		nb.lit(" seen for a routine visit")
	}
	nb.lit(". ")
	if r.IntN(2) == 0 {
		nb.lit(he)
		nb.lit(" was accompanied by ")
		nb.lit(his)
		nb.lit(" ")
		nb.lit(p.relation)
		nb.lit(", ")
		nb.phi(PHIName, "relative", p.relative)
		nb.lit(", who can be reached at ")
		nb.phi(PHIPhone, "", g.phoneText(p.phone))
		nb.lit(".")
	} else {
		nb.lit("Contact number on file: ")
		nb.phi(PHIPhone, "", g.phoneText(p.phone))
		nb.lit(".")
	}
	nb.lit("\n")
	if r.IntN(3) == 0 {
		nb.lit("Home address: ")
		nb.phi(PHIAddress, "", p.addressLine())
		nb.lit(", ")
		nb.phi(PHICity, "", p.home.city)
		nb.lit(", ")
		nb.lit(p.home.abbr)
		if p.zip != "" {
			nb.lit(" ")
			nb.phi(PHIZIP, "", p.zip)
		}
		nb.lit(".\n")
	}
	if r.IntN(8) == 0 {
		nb.lit("SSN ")
		nb.phi(PHISSN, "", p.ssn)
		nb.lit(" verified at registration.\n")
	}
	if r.IntN(6) == 0 {
		nb.lit("Prefers e-mail: ")
		nb.phi(PHIEmail, "", p.email)
		nb.lit("\n")
	}
	if r.IntN(10) == 0 {
		nb.lit("Outside records requested; fax to ")
		nb.phi(PHIFax, "", g.phoneText("555-"+digits(r, 3)+"-"+digits(r, 4)))
		nb.lit(".\n")
	}
	if r.IntN(12) == 0 {
		nb.lit("Results released to the patient portal: ")
		nb.phi(PHIURL, "", "https://portal.example.org/chart/"+p.mrn)
		nb.lit("\n")
	}
	if r.IntN(15) == 0 {
		// RFC 5737 documentation addresses: never a real host
		nb.lit("Home monitor uploads from ")
		nb.phi(PHIIP, "", pick(g, docNets)+strconv.Itoa(1+r.IntN(254)))
		nb.lit(".\n")
	}
	if r.IntN(12) == 0 {
		if p.drivers != "" && r.IntN(2) == 0 {
			nb.lit("ID checked: driver's license ")
			nb.phi(PHIID, "license", p.drivers)
		} else {
			nb.lit("Insurance member ID ")
			nb.phi(PHIID, "insurance", "W"+digits(r, 9))
		}
		nb.lit(".\n")
	}

	// Body.
	switch {
	case pl.kind == kDeath:
		nb.lit("Patient expired on ")
		nb.phi(PHIDate, "death", g.dateText(pl.day))
		nb.lit(". Family (")
		nb.phi(PHIName, "relative", p.relative)
		nb.lit(") notified by phone.\n")
	case pl.kind == kSignalEvent && pl.arg2 == 1:
		s := &g.signals[pl.arg]
		nb.lit("Symptoms began a few days after starting ")
		nb.lit(lowerFirst(s.drugName))
		nb.lit(". Possible adverse drug reaction; reported.\n")
	case e.class == classInpatient:
		nb.lit("Admitted ")
		nb.phi(PHIDate, "admission", g.dateText(dayOf(e.start)))
		nb.lit(", discharged ")
		nb.phi(PHIDate, "discharge", g.dateText(dayOf(e.stop)))
		nb.lit(" in stable condition.\n")
	default:
		nb.lit("Vitals stable. Plan discussed with patient; questions answered.\n")
	}
	if r.IntN(5) == 0 {
		rfirst, _, _ := strings.Cut(p.relative, " ")
		nb.lit("Discussed the plan with ")
		nb.phi(PHIName, "relative", rfirst)
		nb.lit(" as well; ")
		nb.lit(lowerFirst(he))
		nb.lit(" agrees.\n")
	}
	if r.IntN(6) == 0 {
		_, clast, _ := strings.Cut(clin, " ")
		nb.lit("Case reviewed with Dr. ")
		nb.phi(PHIName, "clinician", clast)
		nb.lit(".\n")
	}
	if r.IntN(8) == 0 && age >= 18 {
		nb.lit(he)
		nb.lit(" lives at ")
		nb.phi(PHIAddress, "", p.addressLine())
		nb.lit(" in ")
		nb.phi(PHICity, "", p.home.city)
		nb.lit(" and drives to appointments.\n")
	}
	nb.lit("Follow-up on ")
	nb.phi(PHIDate, "follow-up", g.dateText(pl.day+int32(7+r.IntN(60))))
	nb.lit(".\n\n")
	if title == "Dr." {
		nb.lit("Dr. ")
		nb.phi(PHIName, "clinician", clin)
	} else {
		nb.phi(PHIName, "clinician", clin)
		nb.lit(", ")
		nb.lit(title)
	}
	nb.lit("\n")

	p.notes = append(p.notes, note{id: g.uuid(), enc: ei, day: pl.day, typ: typ, text: nb.b, spans: nb.spans})
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	// keep acronyms and brand-like words as they are
	if len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z' {
		return s
	}
	return string(s[0]+32) + s[1:]
}

// noteSink writes notes.jsonl and notes.phi.jsonl.
type noteSink struct {
	notes, phi *outFile
}

func newNoteSink(dir string) (*noteSink, error) {
	n, err := createOut(dir, NotesFile)
	if err != nil {
		return nil, err
	}
	ph, err := createOut(dir, PHIFile)
	if err != nil {
		closeAll([]*outFile{n})
		return nil, err
	}
	return &noteSink{notes: n, phi: ph}, nil
}

func (s *noteSink) outputs() []*outFile { return []*outFile{s.notes, s.phi} }
func (s *noteSink) abort()              { closeAll(s.outputs()) }

func (s *noteSink) write(p *patient) error {
	for i := range p.notes {
		n := &p.notes[i]
		b := append(s.notes.buf, `{"id":"`...)
		b = append(b, n.id[:]...)
		b = append(b, `","patient":"`...)
		b = append(b, p.id[:]...)
		b = append(b, `","encounter":"`...)
		b = append(b, p.encs[n.enc].id[:]...)
		b = append(b, `","date":"`...)
		b = appendDate(b, n.day)
		b = append(b, `","type":`...)
		b = appendJSONString(b, n.typ)
		b = append(b, `,"text":`...)
		b = appendJSONString(b, string(n.text))
		b = append(b, '}')
		s.notes.buf = b
		s.notes.endRow()

		b = append(s.phi.buf, `{"id":"`...)
		b = append(b, n.id[:]...)
		b = append(b, `","spans":[`...)
		for k, sp := range n.spans {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"start":`...)
			b = strconv.AppendInt(b, int64(sp.Start), 10)
			b = append(b, `,"end":`...)
			b = strconv.AppendInt(b, int64(sp.End), 10)
			b = append(b, `,"type":"`...)
			b = append(b, sp.Type...)
			b = append(b, '"')
			if sp.Role != "" {
				b = append(b, `,"role":"`...)
				b = append(b, sp.Role...)
				b = append(b, '"')
			}
			b = append(b, `,"text":`...)
			b = appendJSONString(b, sp.Text)
			b = append(b, '}')
		}
		b = append(b, "]}"...)
		s.phi.buf = b
		s.phi.endRow()
	}
	return firstErr(s.outputs())
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
		case c == '<' || c == '>' || c == '&':
			b = append(b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
