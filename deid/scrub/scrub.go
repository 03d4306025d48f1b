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
	"strconv"
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
	need     func(l *lineInfo) bool // cheap test that the pattern can match in a line
	lower    bool                   // matched against the ASCII-lower-cased text
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
	{start: streetSuffixStart, at: 'd', need: numThenCap, re: regexp.MustCompile(`\b\d{1,6}(?:\s+[A-Z][A-Za-z'.]*){1,4}\s+(?:` + streetSuffixes + `)\b\.?(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|#)\.?\s*#?\w+)?`), typ: Address},
	{start: streetStart, at: 'd', need: numThenCap, re: regexp.MustCompile(`\b\d{1,6}(?:\s+[A-Z][A-Za-z'.]*){1,4}(?:\s+(?:Apt|Apartment|Unit|Suite|Ste|#)\.?\s*#?\w+)?,\s+[A-Z][A-Za-z.'\-]+(?:\s[A-Z][A-Za-z.'\-]+){0,2},\s+` + states + `\b`), typ: Address},
	{start: cityStart, at: 'u', need: minRun(5), re: regexp.MustCompile(`\b([A-Z][A-Za-z.'\-]+(?:\s[A-Z][A-Za-z.'\-]+){0,2}),\s+` + states + `\s+\d{5}(?:-\d{4})?\b`), typ: Address, group: 1},
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

// idNext are the words that must follow some of idFirst for the pattern
// to match at all.
var idNext = map[string][]string{"patient": {" id"}, "member": {" id"}, "plan": {" id"}, "device": {" id"},
	"medical": {" record"}, "social": {" security"}, "record": {" number", " no", " #"}}

func idStart(s string, i int) bool {
	w := s[i : i+letterRun(s, i)]
	if !idFirst[w] {
		return false
	}
	next, ok := idNext[w]
	if !ok {
		return true
	}
	for _, n := range next {
		if strings.HasPrefix(s[i+len(w):], n) {
			return true
		}
	}
	return false
}

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

// isSpace is \s of package regexp.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

func skipSpaces(s string, j int) int {
	for j < len(s) && isSpace(s[j]) {
		j++
	}
	return j
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// streetStart: a house number of up to six digits, a blank, a capital.
func streetStart(s string, i int) bool {
	r := digitRun(s, i)
	return r >= 1 && r <= 6 && byteAt(s, i+r) == ' ' && isUpper(byteAt(s, skipSpaces(s, i+r)))
}

// streetSuffixStart is streetStart followed by a second capitalized word
// (the street suffix at least).
func streetSuffixStart(s string, i int) bool {
	if !streetStart(s, i) {
		return false
	}
	j := skipSpaces(s, i+digitRun(s, i)) + 1
	for j < len(s) && (isASCIILetter(s[j]) || s[j] == '\'' || s[j] == '.') {
		j++
	}
	return j < len(s) && isSpace(s[j]) && isUpper(byteAt(s, skipSpaces(s, j)))
}

// cityStart: one to three capitalized words, single blanks between them,
// the last followed by a comma (a town before its state).
func cityStart(s string, i int) bool {
	j := i
	for range 3 {
		if !isUpper(byteAt(s, j)) {
			return false
		}
		k := j + 1
		for k < len(s) && (isASCIILetter(s[k]) || s[k] == '.' || s[k] == '\'' || s[k] == '-') {
			k++
		}
		switch {
		case k == j+1:
			return false
		case byteAt(s, k) == ',':
			return true
		case k < len(s) && isSpace(s[k]):
			j = k + 1
		default:
			return false
		}
	}
	return false
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

// commaNameStart: "Family, Given M." (a word, a comma, blanks, a
// capitalized word, blanks, a capital and a dot).
func commaNameStart(s string, i int) bool {
	nameRun := func(j int) int {
		for j < len(s) && (isASCIILetter(s[j]) || s[j] == '\'' || s[j] == '-') {
			j++
		}
		return j
	}
	j := nameRun(i)
	if j <= i+1 || byteAt(s, j) != ',' {
		return false
	}
	k := skipSpaces(s, j+1)
	if k == j+1 || !isUpper(byteAt(s, k)) {
		return false
	}
	j = nameRun(k + 1)
	if j == k+1 {
		return false
	}
	k = skipSpaces(s, j)
	return k > j && isUpper(byteAt(s, k)) && byteAt(s, k+1) == '.'
}

// lineInfo is what the prefilters of patterns look at, measured once per
// line in one pass instead of once per pattern.
type lineInfo struct {
	text, lower string
	hasDigit    bool
	maxRun      int  // longest run of digits
	digits      int  // digits in all
	dots        int  // '.' characters
	dashes      int  // '-' characters
	dateSep     bool // a digit, a '/', '-' or '.', and a digit
	numCap      bool // a digit, a blank and a capital
	letDigit    bool // a lower-case letter and a digit
	words       uint8
	// candidate starts by pattern kind (see canStart), listed on demand
	starts [5][]int32
	listed bool
}

// word classes of lineInfo.words
const (
	monthClass uint8 = 1 << iota // a month name or abbreviation
	idClass                      // a word that introduces an identifier
	titleClass                   // a title (case as written)
)

// measure fills l for one line.
func (l *lineInfo) measure(text, lower string) {
	*l = lineInfo{text: text, lower: lower, starts: l.starts}
	run := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case isDigitByte(c):
			l.digits++
			run++
			l.maxRun = max(l.maxRun, run)
			if i+2 < len(text) && text[i+1] == ' ' && text[i+2] >= 'A' && text[i+2] <= 'Z' {
				l.numCap = true
			}
			continue
		case c == '.' || c == '-' || c == '/':
			if c == '.' {
				l.dots++
			} else if c == '-' {
				l.dashes++
			}
			if i > 0 && i+1 < len(text) && isDigitByte(text[i-1]) && isDigitByte(text[i+1]) {
				l.dateSep = true
			}
		case c >= 'a' && c <= 'z':
			if i+1 < len(text) && isDigitByte(text[i+1]) {
				l.letDigit = true
			}
		}
		run = 0
	}
	l.hasDigit = l.digits > 0
	// words: runs of ASCII letters, the same in text and lower
	for i := 0; i < len(lower); {
		for i < len(lower) && !(lower[i] >= 'a' && lower[i] <= 'z') {
			i++
		}
		j := i
		for j < len(lower) && lower[j] >= 'a' && lower[j] <= 'z' {
			j++
		}
		if n := j - i; n >= 2 && n <= maxClassWord {
			l.words |= wordClasses[lower[i:j]]
			if text[i] >= 'A' && text[i] <= 'Z' && titles[text[i:j]] {
				l.words |= titleClass
			}
		}
		i = j
	}
}

// candidates lists the offsets in the line where a pattern of kind at may
// start (see canStart); the lists of every kind are made in one pass, once
// per line. Upper-case and lower-case text agree on the kinds used with
// lower-cased patterns ('d', 'l').
func (l *lineInfo) candidates(at byte) []int32 {
	if !l.listed {
		l.listed = true
		for k := range l.starts {
			l.starts[k] = l.starts[k][:0]
		}
		s := l.text
		for i := 0; i < len(s); i++ {
			c := s[i]
			wordStart := i == 0 || !isWordByte(s[i-1])
			digit, upper := isDigitByte(c), c >= 'A' && c <= 'Z'
			if c == '+' || c == '(' || wordStart && digit {
				l.starts[4] = append(l.starts[4], int32(i)) // 'p'
			}
			if !wordStart {
				continue
			}
			if digit {
				l.starts[0] = append(l.starts[0], int32(i)) // 'd'
			}
			if upper {
				l.starts[1] = append(l.starts[1], int32(i)) // 'u'
			}
			if upper || c >= 'a' && c <= 'z' {
				l.starts[2] = append(l.starts[2], int32(i)) // 'l'
			}
			if digit || upper {
				l.starts[3] = append(l.starts[3], int32(i)) // 'w'
			}
		}
	}
	switch at {
	case 'd':
		return l.starts[0]
	case 'u':
		return l.starts[1]
	case 'l':
		return l.starts[2]
	case 'w':
		return l.starts[3]
	case 'p':
		return l.starts[4]
	}
	panic("scrub: unknown start kind " + string(at))
}

// prefilters of patterns
func anyOf(subs ...string) func(l *lineInfo) bool {
	return func(l *lineInfo) bool {
		for _, s := range subs {
			if strings.Contains(l.text, s) {
				return true
			}
		}
		return false
	}
}

func anyLower(subs ...string) func(l *lineInfo) bool {
	return func(l *lineInfo) bool {
		for _, s := range subs {
			if strings.Contains(l.lower, s) {
				return true
			}
		}
		return false
	}
}

// monthWord admits lines with a month name or abbreviation as a word.
func monthWord(l *lineInfo) bool { return l.words&monthClass != 0 }

// idWord admits lines with a word that introduces an identifier.
func idWord(l *lineInfo) bool { return l.words&idClass != 0 }

var monthWords = wordSet("jan january feb february mar march apr april may jun june jul july aug august sep sept september oct october nov november dec december")

var idWords = wordSet("mrn record account acct member policy plan license licence passport ssn social id serial vin")

// wordClasses gives the classes of the lower-case words of monthWords and
// idWords; maxClassWord is the longest of them and of titles.
var wordClasses, maxClassWord = func() (map[string]uint8, int) {
	m := map[string]uint8{}
	n := 0
	for w := range monthWords {
		m[w] |= monthClass
		n = max(n, len(w))
	}
	for w := range idWords {
		m[w] |= idClass
		n = max(n, len(w))
	}
	for w := range titles {
		n = max(n, len(w))
	}
	return m, n
}()

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// minRun admits lines with a run of at least n digits.
func minRun(n int) func(l *lineInfo) bool {
	return func(l *lineInfo) bool { return l.maxRun >= n }
}

// minDigits admits lines with at least n digits.
func minDigits(n int) func(l *lineInfo) bool {
	return func(l *lineInfo) bool { return l.digits >= n }
}

func ipLike(l *lineInfo) bool { return l.hasDigit && l.dots >= 3 }

func uuidLike(l *lineInfo) bool { return l.hasDigit && l.dashes >= 4 }

// dateSeps admits lines with a digit, a '/', '-' or '.', and a digit.
func dateSeps(l *lineInfo) bool { return l.dateSep }

// numThenCap admits lines where a number is followed by a capitalized word.
func numThenCap(l *lineInfo) bool { return l.numCap }

// letterDigit admits lines where a lower-case letter is followed by a digit.
func letterDigit(l *lineInfo) bool { return l.letDigit }

var titles = wordSet("Mr Mrs Ms Miss Mx Dr Prof Sr Sra Nurse")

// titleWord admits lines with a title word (case as written).
func titleWord(l *lineInfo) bool { return l.words&titleClass != 0 }

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
	li := &lineInfo{}
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
		li.measure(line, lower)
		for pi := range patterns {
			p := &patterns[pi]
			if !p.need(li) {
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
			next := 0
			for _, c := range li.candidates(p.at) {
				i := int(c)
				if i < next || p.start != nil && !p.start(in, i) {
					continue
				}
				if m := p.anchored.FindStringSubmatchIndex(in[i:]); m != nil {
					found(m, i)
					next = i + max(m[1], 1)
				}
			}
		}
		ls = le + 1
	}
	s.dictionaryNames(text, add)
	if id != nil {
		identitySpans(text, lowerAll, id, add)
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
			var buf [32]byte
			var known, amb, stop bool
			lb, upper, ok := asciiWordLower(word, buf[:])
			if ok {
				known, amb, stop = s.names[string(lb)], s.ambiguous[string(lb)], stopWords[string(lb)]
			} else {
				lw := strings.ToLower(word)
				upper = strings.ToUpper(word) == word
				known, amb, stop = s.names[lw], s.ambiguous[lw], stopWords[lw]
			}
			if (known || amb && !sentenceStart(text, i)) && !stop && !upper {
				add(i, k, Name)
				lastEnd = k
			} else if lastEnd >= 0 && onlySpaces(text[lastEnd:i]) && !stop && !upper {
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

// asciiWordLower lower-cases a short ASCII word into buf (so map lookups
// need no allocation), and says whether the word has no lower-case letter;
// ok is false for a word that is not ASCII or longer than buf.
func asciiWordLower(word string, buf []byte) (lower []byte, upper, ok bool) {
	if len(word) > len(buf) {
		return nil, false, false
	}
	upper = true
	for i := 0; i < len(word); i++ {
		c := word[i]
		switch {
		case c >= utf8.RuneSelf:
			return nil, false, false
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z':
			upper = false
		}
		buf[i] = c
	}
	return buf[:len(word)], upper, true
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
// lower is asciiLower(text).
func identitySpans(text, lower string, id *Identity, add func(a, b int, t string)) {
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

func itoa(i int) string { return strconv.Itoa(i) }

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
	slices.SortFunc(spans, func(a, b Span) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
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
