// Package scrub removes protected health information from free text: names,
// dates, phone and fax numbers, e-mail addresses, SSNs, record numbers and
// other ids, URLs, IP addresses, street addresses, ZIP codes and ages over 89
// are replaced by typed tags such as [NAME] or [DATE].
//
// It finds PHI with patterns, with dictionaries of common given and family
// names, and with the identifiers of the record's own patient when the caller
// has them ([Identity]). It is a best-effort filter measured by recall and
// precision on annotated notes, not a proof: text scrubbed here still belongs
// in a de-identified dataset only under a policy that accepts that risk.
//
// It is not the de-identification engine (package deid) and it reads no
// files; cmd/cohortnet's `deid scrub` does the JSON lines.
package scrub

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PHI types, the tags that replace them.
const (
	Name    = "NAME"
	Date    = "DATE"
	Phone   = "PHONE"
	ID      = "ID"
	Address = "ADDRESS"
	Email   = "EMAIL"
	URL     = "URL"
	IP      = "IP"
	Age     = "AGE>89"
)

// Span is one piece of PHI: byte offsets [Start, End) into the original text.
type Span struct {
	Start int    `json:"start"`
	End   int    `json:"end"`
	Type  string `json:"type"`
}

// CalendarDate is a calendar date of the patient (birth date) to find in any common
// spelling.
type CalendarDate struct{ Year, Month, Day int }

// Identity holds one patient's own identifiers, found in text in addition to
// the patterns. Empty fields are ignored.
type Identity struct {
	Names     []string // given, family, maiden names (Synthea's trailing digits are optional in text)
	IDs       []string // MRN, SSN, licence, passport, ZIP...
	Phones    []string
	Emails    []string
	Addresses []string // street line, city, county, birthplace
	Dates     []CalendarDate
}

// Config tunes a [Scrubber]. The zero value uses the built-in dictionaries.
type Config struct {
	// ExtraNames are more names to treat as PHI wherever they appear
	// capitalized (e.g. the institution's staff).
	ExtraNames []string
}

// Scrubber finds and replaces PHI. It is safe for concurrent use.
type Scrubber struct {
	names     map[string]bool // lower-case dictionary names
	ambiguous map[string]bool // names that are words too (see ambiguousNames)
}

// New returns a scrubber.
func New(cfg Config) *Scrubber {
	s := &Scrubber{names: map[string]bool{}, ambiguous: map[string]bool{}}
	for _, n := range strings.Fields(givenNames + " " + familyNames) {
		s.names[strings.ToLower(n)] = true
	}
	for _, n := range strings.Fields(ambiguousNames) {
		s.ambiguous[strings.ToLower(n)] = true
	}
	for _, n := range cfg.ExtraNames {
		s.names[strings.ToLower(n)] = true
	}
	return s
}

// Result is scrubbed text with the spans of PHI found in the original.
type Result struct {
	Text  string `json:"text"`
	Spans []Span `json:"spans"`
}

var months = `(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)`

type pattern struct {
	// at, when set, says where a match can start, and the pattern is tried
	// anchored there only (much faster than Go's scan for patterns with no
	// literal prefix): 'd' a digit, 'u' an upper-case letter, 'l' a letter,
	// 'w' a letter or digit, each at a word start; 'p' a phone number start.
	at       byte
	start    func(s string, i int) bool // a finer test than at, when set
	anchored *regexp.Regexp
	need     func(text, lower string, hasDigit bool) bool // cheap test that the pattern can match
	lower    bool                                         // matched against the ASCII-lower-cased text
	re       *regexp.Regexp
	typ      string
	group    int // submatch that is the PHI (0: whole match)
}

var patterns = []pattern{
	{need: anyOf("@"), re: regexp.MustCompile(`\b[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}\b`), lower: true, typ: Email},
	{need: anyLower("http", "www."), re: regexp.MustCompile(`\b(?:https?://|www\.)[^\s<>"')\]]+`), lower: true, typ: URL},
	{start: ipStart, at: 'd', need: ipLike, re: regexp.MustCompile(`\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b`), typ: IP},
	{start: ssnStart, at: 'd', need: minRun(4), re: regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`), typ: ID},
	{need: uuidLike, re: regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), lower: true, typ: ID},
	{start: phoneStart, at: 'p', need: minDigits(10), re: regexp.MustCompile(`(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.\-])\d{3}[\s.\-]\d{4}\b(?:\s*(?:x|ext\.?)\s*\d{1,5})?`), typ: Phone},
	{start: runStart(10, 10), at: 'd', need: minRun(10), re: regexp.MustCompile(`\b\d{10}\b`), typ: Phone},
	{start: isoStart, at: 'd', need: anyOf("-"), re: regexp.MustCompile(`\b(?:1[89]|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?)?\b`), typ: Date},
	{start: usDateStart, at: 'd', need: dateSeps, re: regexp.MustCompile(`\b(?:0?[1-9]|1[0-2])[/\-.](?:0?[1-9]|[12]\d|3[01])[/\-.](?:\d{4}|\d{2})\b`), typ: Date},
	{start: monthStart, at: 'l', need: monthWord, re: regexp.MustCompile(`\b` + months + `\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s+(?:1[89]|20)\d{2}\b`), lower: true, typ: Date},
	{start: runStart(1, 2), at: 'd', need: monthWord, re: regexp.MustCompile(`\b(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?` + months + `\.?,?\s+(?:1[89]|20)\d{2}\b`), lower: true, typ: Date},
	{start: monthStart, at: 'l', need: monthWord, re: regexp.MustCompile(`\b` + months + `\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\b`), lower: true, typ: Date},
	{start: idStart, at: 'l', need: idWord, re: regexp.MustCompile(`\b(?:mrn|medical record(?: number| no\.?)?|record (?:number|no\.?|#)|account(?: number| no\.?)?|acct|member id|policy(?: number)?|plan id|license(?: number)?|licence|passport(?: number)?|ssn|social security(?: number)?|id(?: number)?|patient id|device id|serial(?: number)?|vin)\s*(?:is|:|#|no\.?)?\s*:?\s*([a-z0-9][a-z0-9\-]{3,})`), lower: true, typ: ID, group: 1},
	{start: longIDStart, at: 'w', need: minRun(6), re: regexp.MustCompile(`\b[A-Z]{1,3}\d{6,}[A-Z]?\b|\b\d{7,}\b`), typ: ID},
	{start: streetStart, at: 'd', need: numThenCap, re: regexp.MustCompile(`\b\d{1,6}(?:\s+[A-Z][A-Za-z'.]*){1,4}\s+(?:` + streetSuffixes + `)\b\.?(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|#)\.?\s*#?\w+)?`), typ: Address},
	{start: streetStart, at: 'd', need: numThenCap, re: regexp.MustCompile(`\b\d{1,6}(?:\s+[A-Z][A-Za-z'.]*){1,4}(?:\s+(?:Apt|Apartment|Unit|Suite|Ste|#)\.?\s*#?\w+)?,\s+[A-Z][A-Za-z.'\-]+(?:\s[A-Z][A-Za-z.'\-]+){0,2},\s+` + states + `\b`), typ: Address},
	{at: 'u', need: minRun(5), re: regexp.MustCompile(`\b([A-Z][A-Za-z.'\-]+(?:\s[A-Z][A-Za-z.'\-]+){0,2}),\s+` + states + `\s+\d{5}(?:-\d{4})?\b`), typ: Address, group: 1},
	{at: 'u', need: anyOf(", MD", ", DO", ", NP", ", PA", ", RN", ", APRN", ", CNM", ", PhD", ", DDS", ", PharmD"), re: regexp.MustCompile(`\b([A-Z][a-z]+(?:\s[A-Z]\.)?\s[A-Z][a-zA-Z'\-]+),\s+(?:MD|DO|NP|PA|PA-C|RN|APRN|CNM|PhD|DDS|PharmD)\b`), typ: Name, group: 1},
	{at: 'u', need: anyLower("box"), re: regexp.MustCompile(`\b(?:P\.?\s?O\.?\s+Box|PO Box)\s+\d+\b`), typ: Address},
	{start: stateZipStart, at: 'u', need: minRun(5), re: regexp.MustCompile(states + `\s+(\d{5}(?:-\d{4})?)\b`), typ: Address, group: 1},
	{start: wordIs("zip"), at: 'l', need: anyLower("zip"), re: regexp.MustCompile(`\bzip(?:\s*code)?\s*:?\s*(\d{5}(?:-\d{4})?)\b`), lower: true, typ: Address, group: 1},
	{start: ageStart, at: 'd', need: anyLower("year", "yr", "y/o", "yo"), re: regexp.MustCompile(`\b(?:9\d|1[0-4]\d)(?:\s*-?\s*(?:years?|yrs?)(?:\s*-?\s*old)?|\s*y/?o\b)`), lower: true, typ: Age},
	{start: wordPrefix("age"), at: 'l', need: anyLower("age"), re: regexp.MustCompile(`\b(?:age[ds]?|aged)\s*:?\s*(?:9\d|1[0-4]\d)\b`), lower: true, typ: Age},
	{start: titleStart, at: 'u', need: titleWord, re: regexp.MustCompile(`\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sr|Sra|Nurse)\.?\s+((?:[A-Z][a-zA-Z'\-]+\d*\.?\s?){1,3})`), typ: Name, group: 1},
	{start: numberedNameStart, at: 'u', need: letterDigit, re: regexp.MustCompile(`\b[A-Z][a-z]+\d{1,4}\b`), typ: Name}, // Synthea's numbered names
	{start: commaNameStart, at: 'u', need: anyOf(", "), re: regexp.MustCompile(`\b[A-Z][a-zA-Z'\-]+,\s+[A-Z][a-zA-Z'\-]+\s+[A-Z]\.(?:\s|$)`), typ: Name},
}

func init() {
	for i := range patterns {
		if p := &patterns[i]; p.at != 0 {
			p.anchored = regexp.MustCompile(`^(?:` + p.re.String() + `)`)
		}
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// canStart reports whether a match of a pattern of kind at may start at i.
func canStart(at byte, s string, i int) bool {
	c := s[i]
	wordStart := i == 0 || !isWordByte(s[i-1])
	switch at {
	case 'd':
		return wordStart && isDigitByte(c)
	case 'u':
		return wordStart && c >= 'A' && c <= 'Z'
	case 'l':
		return wordStart && isASCIILetter(c)
	case 'w':
		return wordStart && (isDigitByte(c) || c >= 'A' && c <= 'Z')
	case 'p':
		return c == '+' || c == '(' || wordStart && isDigitByte(c)
	}
	return true
}

// Start tests: cheap checks of the first characters of a match, so the
// anchored expression runs only where it has a chance.

func digitRun(s string, i int) int {
	j := i
	for j < len(s) && isDigitByte(s[j]) {
		j++
	}
	return j - i
}

func letterRun(s string, i int) int {
	j := i
	for j < len(s) && isASCIILetter(s[j]) {
		j++
	}
	return j - i
}

func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func ipStart(s string, i int) bool {
	r := digitRun(s, i)
	return r >= 1 && r <= 3 && byteAt(s, i+r) == '.'
}

func ssnStart(s string, i int) bool { return digitRun(s, i) == 3 && byteAt(s, i+3) == '-' }

func phoneStart(s string, i int) bool {
	switch c := s[i]; {
	case c == '+' || c == '(':
		return true
	default:
		r := digitRun(s, i)
		n := byteAt(s, i+r)
		return (r == 3 || r == 1 && c == '1') && (n == ' ' || n == '.' || n == '-' || n == '(')
	}
}

func runStart(lo, hi int) func(s string, i int) bool {
	return func(s string, i int) bool { r := digitRun(s, i); return r >= lo && r <= hi }
}

func isoStart(s string, i int) bool { return digitRun(s, i) == 4 && byteAt(s, i+4) == '-' }

func usDateStart(s string, i int) bool {
	r := digitRun(s, i)
	n := byteAt(s, i+r)
	return r >= 1 && r <= 2 && (n == '/' || n == '-' || n == '.')
}

func monthStart(s string, i int) bool { return monthWords[s[i:i+letterRun(s, i)]] }

// idFirst are the first words of the phrases that introduce an identifier.
var idFirst = wordSet("mrn medical record account acct member policy plan license licence passport ssn social id patient device serial vin")

func idStart(s string, i int) bool { return idFirst[s[i:i+letterRun(s, i)]] }

func longIDStart(s string, i int) bool {
	if digitRun(s, i) >= 7 {
		return true
	}
	u := 0
	for u < 3 && i+u < len(s) && s[i+u] >= 'A' && s[i+u] <= 'Z' {
		u++
	}
	return u > 0 && digitRun(s, i+u) >= 6
}

func streetStart(s string, i int) bool {
	r := digitRun(s, i)
	return r >= 1 && r <= 6 && byteAt(s, i+r) == ' '
}

func stateZipStart(s string, i int) bool {
	c1, c2, c3 := byteAt(s, i+1), byteAt(s, i+2), byteAt(s, i+3)
	return c1 >= 'A' && c1 <= 'Z' && (c2 == ' ' || c2 == '\t') && (isDigitByte(c3) || c3 == ' ')
}

func wordIs(w string) func(s string, i int) bool {
	return func(s string, i int) bool { return s[i:i+letterRun(s, i)] == w }
}

func wordPrefix(w string) func(s string, i int) bool {
	return func(s string, i int) bool { return strings.HasPrefix(s[i:], w) }
}

func ageStart(s string, i int) bool {
	r := digitRun(s, i)
	return (r == 2 && s[i] == '9') || (r == 3 && s[i] == '1')
}

func titleStart(s string, i int) bool { return titles[s[i:i+letterRun(s, i)]] }

func numberedNameStart(s string, i int) bool {
	r := letterRun(s, i)
	return r >= 2 && isDigitByte(byteAt(s, i+r))
}

func commaNameStart(s string, i int) bool {
	j := i
	for j < len(s) && (isASCIILetter(s[j]) || s[j] == '\'' || s[j] == '-') {
		j++
	}
	return j > i+1 && byteAt(s, j) == ','
}

// prefilters of patterns
func anyOf(subs ...string) func(text, lower string, hasDigit bool) bool {
	return func(text, _ string, _ bool) bool {
		for _, s := range subs {
			if strings.Contains(text, s) {
				return true
			}
		}
		return false
	}
}

func anyLower(subs ...string) func(text, lower string, hasDigit bool) bool {
	return func(_, lower string, _ bool) bool {
		for _, s := range subs {
			if strings.Contains(lower, s) {
				return true
			}
		}
		return false
	}
}

func digits(_, _ string, hasDigit bool) bool { return hasDigit }

// monthWord admits lines with a month name or abbreviation as a word.
func monthWord(_, lower string, _ bool) bool { return hasWord(lower, monthWords) }

// idWord admits lines with a word that introduces an identifier.
func idWord(_, lower string, _ bool) bool { return hasWord(lower, idWords) }

var monthWords = wordSet("jan january feb february mar march apr april may jun june jul july aug august sep sept september oct october nov november dec december")

var idWords = wordSet("mrn record account acct member policy plan license licence passport ssn social id serial vin")

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// hasWord reports whether lower holds one of the words (letters only).
func hasWord(lower string, words map[string]bool) bool {
	for i := 0; i < len(lower); {
		for i < len(lower) && !(lower[i] >= 'a' && lower[i] <= 'z') {
			i++
		}
		j := i
		for j < len(lower) && lower[j] >= 'a' && lower[j] <= 'z' {
			j++
		}
		if j > i && words[lower[i:j]] {
			return true
		}
		i = j
	}
	return false
}

// minRun admits lines with a run of at least n digits.
func minRun(n int) func(text, lower string, hasDigit bool) bool {
	return func(text, _ string, hasDigit bool) bool {
		if !hasDigit {
			return false
		}
		run := 0
		for i := 0; i < len(text); i++ {
			if text[i] >= '0' && text[i] <= '9' {
				run++
				if run >= n {
					return true
				}
			} else {
				run = 0
			}
		}
		return false
	}
}

// minDigits admits lines with at least n digits.
func minDigits(n int) func(text, lower string, hasDigit bool) bool {
	return func(text, _ string, hasDigit bool) bool {
		if !hasDigit {
			return false
		}
		c := 0
		for i := 0; i < len(text); i++ {
			if text[i] >= '0' && text[i] <= '9' {
				c++
			}
		}
		return c >= n
	}
}

func ipLike(text, _ string, hasDigit bool) bool { return hasDigit && strings.Count(text, ".") >= 3 }

func uuidLike(text, _ string, hasDigit bool) bool { return hasDigit && strings.Count(text, "-") >= 4 }

// dateSeps admits lines with a digit, a '/', '-' or '.', and a digit.
func dateSeps(text, _ string, hasDigit bool) bool {
	if !hasDigit {
		return false
	}
	for i := 1; i+1 < len(text); i++ {
		c := text[i]
		if (c == '/' || c == '-' || c == '.') && isDigitByte(text[i-1]) && isDigitByte(text[i+1]) {
			return true
		}
	}
	return false
}

// numThenCap admits lines where a number is followed by a capitalized word.
func numThenCap(text, _ string, hasDigit bool) bool {
	if !hasDigit {
		return false
	}
	for i := 0; i+2 < len(text); i++ {
		if isDigitByte(text[i]) && text[i+1] == ' ' && text[i+2] >= 'A' && text[i+2] <= 'Z' {
			return true
		}
	}
	return false
}

// letterDigit admits lines where a lower-case letter is followed by a digit.
func letterDigit(text, _ string, hasDigit bool) bool {
	if !hasDigit {
		return false
	}
	for i := 0; i+1 < len(text); i++ {
		if text[i] >= 'a' && text[i] <= 'z' && isDigitByte(text[i+1]) {
			return true
		}
	}
	return false
}

var titles = wordSet("Mr Mrs Ms Miss Mx Dr Prof Sr Sra Nurse")

// titleWord admits lines with a title word (case as written).
func titleWord(text, _ string, _ bool) bool {
	for i := 0; i < len(text); {
		for i < len(text) && !isASCIILetter(text[i]) {
			i++
		}
		j := i
		for j < len(text) && isASCIILetter(text[j]) {
			j++
		}
		if j > i && titles[text[i:j]] {
			return true
		}
		i = j
	}
	return false
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

const states = `\b(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])`

const streetSuffixes = `Lock|Light|Camp|Lodge|Mission|Fork|Bridge|Burg|Canyon|Cliff|Crest|Field|Flat|Hill|Hills|Inlet|Island|Light|Mall|Mews|Mount|Overpass|Pines|Plains|Prairie|Ranch|Rapids|Route|Shoal|Skyway|Stream|Throughway|Tunnel|Turnpike|Valley|Viaduct|Vista|Well|Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Square|Sq|Loop|Alley|Row|Path|Pike|Crossing|Run|Walk|Gardens|Heights|Ridge|Hollow|Mill|Gate|Rest|Vale|View|Park|Landing|Station|Port|Bypass|Ramp|Underpass|Junction|Knoll|Green|Glen|Harbor|Manor|Meadow|Meadows|Point|Spur|Center|Club|Common|Commons|Estates|Falls|Ford|Forge|Grove|Haven|Isle|Key|Lake|Lakes|Orchard|Pass|Plaza|Shore|Shores|Springs|Summit|Track|Union|Villa|Village|Ville|Wall|Wells`

// Scrub finds the PHI in text and returns the text with each piece replaced by
// its tag, and the spans found (offsets into text, sorted, not overlapping).
// id may be nil.
func (s *Scrubber) Scrub(text string, id *Identity) Result {
	var spans []Span
	add := func(a, b int, t string) {
		if a < b {
			spans = append(spans, Span{a, b, t})
		}
	}
	lowerAll := asciiLower(text)
	// Patterns never span lines: each runs only on the lines its prefilter
	// admits, which keeps the regular expressions off most of a long note.
	for ls := 0; ls < len(text); {
		le := strings.IndexByte(text[ls:], '\n')
		if le < 0 {
			le = len(text)
		} else {
			le += ls
		}
		line, lower := text[ls:le], lowerAll[ls:le]
		hasDigit := strings.ContainsAny(line, "0123456789")
		for _, p := range patterns {
			if !p.need(line, lower, hasDigit) {
				continue
			}
			in := line
			if p.lower {
				in = lower
			}
			found := func(m []int, off int) {
				a, b := m[2*p.group], m[2*p.group+1]
				if a < 0 {
					return
				}
				a, b = a+off, b+off
				if p.typ == Name && p.group > 0 {
					seg := strings.TrimRight(line[a:b], " .")
					b = a + len(seg)
				}
				add(ls+a, ls+b, p.typ)
			}
			if p.at == 0 {
				for _, m := range p.re.FindAllStringSubmatchIndex(in, -1) {
					found(m, 0)
				}
				continue
			}
			for i := 0; i < len(in); i++ {
				if !canStart(p.at, in, i) || p.start != nil && !p.start(in, i) {
					continue
				}
				if m := p.anchored.FindStringSubmatchIndex(in[i:]); m != nil {
					found(m, i)
					if m[1] > 0 {
						i += m[1] - 1
					}
				}
			}
		}
		ls = le + 1
	}
	s.dictionaryNames(text, add)
	if id != nil {
		identitySpans(text, id, add)
	}
	spans = merge(spans, text)
	extendNames(spans, text)
	var out strings.Builder
	out.Grow(len(text))
	prev := 0
	for _, sp := range spans {
		out.WriteString(text[prev:sp.Start])
		out.WriteString("[" + sp.Type + "]")
		prev = sp.End
	}
	out.WriteString(text[prev:])
	if spans == nil {
		spans = []Span{}
	}
	return Result{Text: out.String(), Spans: spans}
}

// extendNames widens a name to a capitalized word right before it: a given
// name the dictionaries do not know ("Mark", "DeShawn") before a known family
// name.
func extendNames(spans []Span, text string) {
	for i := range spans {
		sp := &spans[i]
		if sp.Type != Name {
			continue
		}
		j := sp.Start
		if j < 2 || text[j-1] != ' ' {
			continue
		}
		k := j - 1
		for k > 0 && (isASCIILetter(text[k-1]) || text[k-1] == '\'' || text[k-1] == '-') {
			k--
		}
		w := text[k : j-1]
		if len(w) < 2 || w[0] < 'A' || w[0] > 'Z' || stopWords[asciiLower(w)] || strings.ToUpper(w) == w {
			continue
		}
		if i > 0 && spans[i-1].End > k {
			continue
		}
		if k > 0 && text[k-1] == '.' {
			continue // "Mr. [NAME]" style titles end with a dot; a sentence end too
		}
		sp.Start = k
	}
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// dictionaryNames marks capitalized words that are known names, and a
// capitalized word right after one (a family name after a given name).
func (s *Scrubber) dictionaryNames(text string, add func(a, b int, t string)) {
	i := 0
	lastEnd := -1
	for i < len(text) {
		r, w := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsLetter(r) {
			i += w
			continue
		}
		j := i
		for j < len(text) {
			r2, w2 := utf8.DecodeRuneInString(text[j:])
			if !unicode.IsLetter(r2) && r2 != '\'' && r2 != '-' {
				break
			}
			j += w2
		}
		word := text[i:j]
		k := j
		for k < len(text) && text[k] >= '0' && text[k] <= '9' {
			k++
		}
		if unicode.IsUpper(r) && len(word) > 1 {
			lw := strings.ToLower(word)
			upper := strings.ToUpper(word) == word
			if (s.names[lw] || s.ambiguous[lw] && !sentenceStart(text, i)) && !stopWords[lw] && !upper {
				add(i, k, Name)
				lastEnd = k
			} else if lastEnd >= 0 && onlySpaces(text[lastEnd:i]) && !stopWords[lw] && !upper {
				add(i, k, Name) // "Maria Okonkwo": family name after a known given name
				lastEnd = -1
			} else {
				lastEnd = -1
			}
		} else {
			lastEnd = -1
		}
		i = k
	}
}

// sentenceStart reports whether the word at i begins a line or sentence.
func sentenceStart(text string, i int) bool {
	j := i
	for j > 0 && (text[j-1] == ' ' || text[j-1] == '\t' || text[j-1] == '"' || text[j-1] == '(') {
		j--
	}
	if j == 0 {
		return true
	}
	switch text[j-1] {
	case '.', '!', '?', '\n', ':', '-', '*', '#':
		return true
	}
	return false
}

func onlySpaces(s string) bool {
	return len(s) > 0 && len(s) <= 2 && strings.Trim(s, " ") == ""
}

// identitySpans marks the patient's own identifiers wherever they appear.
func identitySpans(text string, id *Identity, add func(a, b int, t string)) {
	lower := asciiLower(text)
	for _, n := range id.Names {
		base := asciiLower(strings.TrimRightFunc(strings.TrimSpace(n), unicode.IsDigit))
		if len(base) < 2 {
			continue
		}
		for _, part := range append([]string{base}, strings.Fields(base)...) {
			if len(part) < 2 {
				continue
			}
			findWord(lower, part, func(a, b int) {
				for b < len(text) && text[b] >= '0' && text[b] <= '9' {
					b++
				}
				add(a, b, Name)
			})
		}
	}
	for _, v := range id.IDs {
		findAll(lower, asciiLower(strings.TrimSpace(v)), 3, func(a, b int) { add(a, b, ID) })
	}
	for _, v := range id.Emails {
		findAll(lower, asciiLower(strings.TrimSpace(v)), 3, func(a, b int) { add(a, b, Email) })
	}
	for _, v := range id.Addresses {
		v = asciiLower(strings.TrimSpace(v))
		findWord(lower, v, func(a, b int) { add(a, b, Address) })
		// the street line without its unit, and a city with Synthea's digits
		if f := strings.Fields(v); len(f) > 3 {
			findWord(lower, strings.Join(f[:3], " "), func(a, b int) { add(a, b, Address) })
		}
	}
	for _, v := range id.Phones {
		digits := onlyDigits(v)
		if len(digits) < 7 {
			continue
		}
		phoneDigits(text, digits, func(a, b int) { add(a, b, Phone) })
	}
	for _, d := range id.Dates {
		for _, f := range dateSpellings(d) {
			findAll(lower, f, 6, func(a, b int) { add(a, b, Date) })
		}
	}
}

func findAll(lower, needle string, minLen int, fn func(a, b int)) {
	if len(needle) < minLen {
		return
	}
	for off := 0; ; {
		i := strings.Index(lower[off:], needle)
		if i < 0 {
			return
		}
		fn(off+i, off+i+len(needle))
		off += i + len(needle)
	}
}

// findWord is findAll at word boundaries.
func findWord(lower, needle string, fn func(a, b int)) {
	findAll(lower, needle, 2, func(a, b int) {
		if a > 0 {
			r, _ := utf8.DecodeLastRuneInString(lower[:a])
			if unicode.IsLetter(r) {
				return
			}
		}
		if b < len(lower) {
			r, _ := utf8.DecodeRuneInString(lower[b:])
			if unicode.IsLetter(r) {
				return
			}
		}
		fn(a, b)
	})
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// phoneDigits finds runs of digits and separators whose digits end with the
// phone's last ten (or all of them when shorter).
func phoneDigits(text, digits string, fn func(a, b int)) {
	if len(digits) > 10 {
		digits = digits[len(digits)-10:]
	}
	for i := 0; i < len(text); i++ {
		if text[i] < '0' || text[i] > '9' {
			continue
		}
		j, n := i, 0
		var got strings.Builder
		for j < len(text) && n <= 14 {
			c := text[j]
			if c >= '0' && c <= '9' {
				got.WriteByte(c)
				n++
			} else if !strings.ContainsRune(" .-()+", rune(c)) {
				break
			}
			j++
		}
		g := got.String()
		if k := strings.Index(g, digits); k >= 0 && len(digits) >= 7 {
			// extend the span from the first to the last digit of the match
			end := i
			cnt := 0
			for end < j && cnt < k+len(digits) {
				if text[end] >= '0' && text[end] <= '9' {
					cnt++
				}
				end++
			}
			fn(i, end)
			i = end
		} else {
			for i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9' {
				i++
			}
		}
	}
}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

func dateSpellings(d CalendarDate) []string {
	if d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 {
		return nil
	}
	y, m, dd := itoa(d.Year), d.Month, d.Day
	mn := monthNames[m-1]
	return []string{
		y + "-" + pad2(m) + "-" + pad2(dd),
		pad2(m) + "/" + pad2(dd) + "/" + y,
		itoa(m) + "/" + itoa(dd) + "/" + y,
		mn + " " + itoa(dd) + ", " + y,
		mn + " " + itoa(dd) + " " + y,
		itoa(dd) + " " + mn + " " + y,
		mn[:3] + " " + itoa(dd) + ", " + y,
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	neg := i < 0
	if neg {
		i = -i
	}
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

func pad2(i int) string {
	if i < 10 {
		return "0" + itoa(i)
	}
	return itoa(i)
}

// priority decides the type of merged overlapping spans: more specific kinds
// first.
var priority = map[string]int{Email: 0, URL: 1, IP: 2, Phone: 3, ID: 4, Date: 5, Age: 6, Address: 7, Name: 8}

// merge sorts spans and joins overlapping ones, and neighbours of one type
// separated by blanks only ("Gregory" "Whitfield" is one name).
func merge(spans []Span, text string) []Span {
	if len(spans) == 0 {
		return nil
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].Start != spans[j].Start {
			return spans[i].Start < spans[j].Start
		}
		return spans[i].End > spans[j].End
	})
	out := []Span{spans[0]}
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.Type == last.Type && s.Start >= last.End && strings.Trim(text[last.End:s.Start], " \t") == "" {
			last.End = max(last.End, s.End)
			continue
		}
		if s.Start < last.End {
			if s.End > last.End {
				if s.End-s.Start > last.End-last.Start && priority[s.Type] < priority[last.Type] {
					last.Type = s.Type
				}
				last.End = s.End
			}
			continue
		}
		out = append(out, s)
	}
	return slices.Clip(out)
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay valid
// whatever the text holds (strings.ToLower may change lengths).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
