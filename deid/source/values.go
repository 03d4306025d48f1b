package source

import (
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// parseDate reads the date part of an ISO 8601 date or date-time
// ("2014-10-06", "2023-01-27T16:17:47Z", "1989-05-09T20:35:22-04:00") as
// written, without converting time zones: the calendar day the source
// recorded. A partial date ("2012", "2012-05", as FHIR allows) is its first
// day. The empty string is no date (ok false, err nil).
func parseDate(s string) (d arrow.Date32, ok bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	var y, m, day int
	switch {
	case len(s) >= 10 && s[4] == '-' && s[7] == '-' && (len(s) == 10 || s[10] == 'T' || s[10] == ' '):
		y, ok = digits(s[0:4])
		mm, ok2 := digits(s[5:7])
		dd, ok3 := digits(s[8:10])
		if !ok || !ok2 || !ok3 {
			return 0, false, detail(ErrBadValue, "not a date: %q", clip(s))
		}
		m, day = mm, dd
	case len(s) == 7 && s[4] == '-':
		y, ok = digits(s[0:4])
		mm, ok2 := digits(s[5:7])
		if !ok || !ok2 {
			return 0, false, detail(ErrBadValue, "not a date: %q", clip(s))
		}
		m, day = mm, 1
	case len(s) == 4:
		y, ok = digits(s)
		if !ok {
			return 0, false, detail(ErrBadValue, "not a date: %q", clip(s))
		}
		m, day = 1, 1
	default:
		return 0, false, detail(ErrBadValue, "not a date: %q", clip(s))
	}
	if m < 1 || m > 12 || day < 1 || day > daysIn(y, m) {
		return 0, false, detail(ErrBadValue, "not a date: %q", clip(s))
	}
	return arrow.Date32(daysFromCivil(y, m, day)), true, nil
}

// parseCompactDate reads FAERS dates: YYYYMMDD, YYYYMM or YYYY (a partial
// date is its first day).
func parseCompactDate(s string) (arrow.Date32, bool, error) {
	switch len(s) {
	case 0:
		return 0, false, nil
	case 4:
		return parseDate(s)
	case 6:
		return parseDate(s[0:4] + "-" + s[4:6])
	case 8:
		return parseDate(s[0:4] + "-" + s[4:6] + "-" + s[6:8])
	}
	return 0, false, detail(ErrBadValue, "not a date: %q", clip(s))
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days since 1970-01-01 of a proleptic
// Gregorian date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// parseNumber reads a decimal number; "" is no number.
func parseNumber(s string) (float64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, detail(ErrBadValue, "not a number: %q", clip(s))
	}
	return v, true, nil
}

// keep copies a string that outlives its record: a decoded or parsed value
// may share memory with the whole line it came from, which a map of ids
// would otherwise hold on to.
func keep(s string) string { return strings.Clone(s) }

// clip shortens a value quoted in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// normGender maps a source's sex or gender to F, M, O or U.
func normGender(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "f", "female", "8532":
		return GenderFemale
	case "m", "male", "8507":
		return GenderMale
	case "o", "other":
		return GenderOther
	}
	return GenderUnknown
}

// normRace maps race words, OMB codes and OMOP concepts to the lower-case
// words Synthea uses: white, black, asian, native, hawaiian, other.
func normRace(s string) string {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "":
		return ""
	case "2106-3", "white", "8527":
		return "white"
	case "2054-5", "black", "black or african american", "8516":
		return "black"
	case "2028-9", "asian", "8515":
		return "asian"
	case "1002-5", "native", "american indian or alaska native", "8657":
		return "native"
	case "2076-8", "hawaiian", "native hawaiian or other pacific islander", "8557":
		return "hawaiian"
	case "2131-1", "other", "other race":
		return "other"
	}
	return t
}

// normEthnicity maps ethnicity words, OMB codes and OMOP concepts to
// hispanic or nonhispanic.
func normEthnicity(s string) string {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "":
		return ""
	case "2135-2", "hispanic", "hispanic or latino", "38003563":
		return "hispanic"
	case "2186-5", "nonhispanic", "not hispanic or latino", "non-hispanic", "38003564":
		return "nonhispanic"
	}
	return t
}

// normState writes a US state or territory as its two-letter USPS code, so
// exports that spell it out (Synthea CSV) and those that abbreviate it
// (Synthea FHIR) agree. Unknown values are kept as given.
func normState(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 2 {
		return strings.ToUpper(s)
	}
	if c, ok := stateCodes[strings.ToLower(s)]; ok {
		return c
	}
	return s
}

var stateCodes = map[string]string{
	"alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
	"colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
	"florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL",
	"indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
	"maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI", "minnesota": "MN",
	"mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
	"new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY",
	"north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR",
	"pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
	"tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA",
	"washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
	"puerto rico": "PR", "guam": "GU", "american samoa": "AS", "u.s. virgin islands": "VI",
	"northern mariana islands": "MP",
}

// Vocabulary names, as OMOP's vocabulary_id spells them.
const (
	VocabSNOMED = "SNOMED"
	VocabRxNorm = "RxNorm"
	VocabLOINC  = "LOINC"
	VocabCVX    = "CVX"
	VocabMedDRA = "MedDRA"
)

// vocabOf names the vocabulary of a FHIR coding system URI; ok is false for
// a system outside SNOMED CT, RxNorm, LOINC and CVX (the system is then kept
// as the vocabulary).
func vocabOf(system string) (string, bool) {
	switch system {
	case "http://snomed.info/sct":
		return VocabSNOMED, true
	case "http://www.nlm.nih.gov/research/umls/rxnorm":
		return VocabRxNorm, true
	case "http://loinc.org":
		return VocabLOINC, true
	case "http://hl7.org/fhir/sid/cvx":
		return VocabCVX, true
	}
	return system, false
}

// birthplace writes a place as "city, state, country" from its parts; Synthea
// CSV separates them with two spaces.
func birthplace(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p)
	}
	return b.String()
}
