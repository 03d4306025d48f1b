package deid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"hash"
	"strings"
)

// pseudonymEncoding is lower-case base32 without padding: ids are safe in
// file names, SQL literals and URLs.
var pseudonymEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// pseudonymBytes is how much of the HMAC an id keeps: 120 bits,
// pseudonymChars characters.
const (
	pseudonymBytes = 15
	pseudonymChars = 24
)

// keyed derives values from the de-identification key. Domain labels keep
// the person pseudonym, the visit pseudonym and the date shift independent.
type keyed struct {
	mac hash.Hash
	in  []byte // domain || 0 || id, reused (no allocation per call)
	buf []byte
}

func newKeyed(key []byte) *keyed { return &keyed{mac: hmac.New(sha256.New, key)} }

func (k *keyed) sum(domain, id string) []byte {
	k.in = append(append(append(k.in[:0], domain...), 0), id...)
	k.mac.Reset()
	k.mac.Write(k.in)
	k.buf = k.mac.Sum(k.buf[:0])
	return k.buf
}

// Pseudonym returns the keyed pseudonym of a source id in a domain ("person",
// "visit"): HMAC-SHA256(key, domain || 0 || id), 120 bits in base32.
func Pseudonym(key []byte, domain, id string) string {
	return newKeyed(key).pseudonym(domain, id)
}

func (k *keyed) pseudonym(domain, id string) string {
	return pseudonymEncoding.EncodeToString(k.sum(domain, id)[:pseudonymBytes])
}

// DateShift returns the person's secret date offset in days, in
// [-maxDays, -1] or [1, maxDays]: never zero, so no real date survives.
func DateShift(key []byte, sourcePersonID string, maxDays int) int32 {
	return newKeyed(key).shift(sourcePersonID, maxDays)
}

func (k *keyed) shift(id string, maxDays int) int32 {
	v := binary.BigEndian.Uint64(k.sum("date-shift", id))
	d := int32(v>>1%uint64(maxDays)) + 1
	if v&1 == 1 {
		d = -d
	}
	return d
}

// RestrictedZip3 are the three-digit ZIP prefixes of areas with 20,000 people
// or fewer (2000 census, as HHS lists them), published as "000".
var RestrictedZip3 = []string{"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884", "890", "893"}

var restricted = func() map[string]bool {
	m := map[string]bool{}
	for _, z := range RestrictedZip3 {
		m[z] = true
	}
	return m
}()

// digits returns the leading ASCII digits of a ZIP code ("02139-4307" gives
// "02139", "2139" from a source that lost the leading zero is padded only by
// the adapters, not here).
func digits(zip string) string {
	zip = strings.TrimSpace(zip)
	i := 0
	for i < len(zip) && zip[i] >= '0' && zip[i] <= '9' {
		i++
	}
	return zip[:i]
}

// ToZip3 returns the three-digit prefix of a ZIP code, "000" for the
// restricted prefixes, and "" when the code has fewer than three digits.
func ToZip3(zip string) string {
	d := digits(zip)
	if len(d) < 3 {
		return ""
	}
	if restricted[d[:3]] {
		return "000"
	}
	return d[:3]
}

// ToZip5 returns the five-digit ZIP code, or "" when there are fewer digits.
func ToZip5(zip string) string {
	d := digits(zip)
	if len(d) < 5 {
		return ""
	}
	return d[:5]
}

// civil date helpers: Date32 counts days since 1970-01-01.

// yearOf returns the calendar year of a Date32 day number.
func yearOf(days int32) int32 {
	y, _, _ := civil(days)
	return y
}

// civil converts days since 1970-01-01 to year, month, day (proleptic
// Gregorian; Howard Hinnant's algorithm, exact for every int32).
func civil(days int32) (year, month, day int32) {
	z := int64(days) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int32(y), int32(m), int32(d)
}

// daysOf converts a civil date to days since 1970-01-01.
func daysOf(year, month, day int32) int32 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	m := int64(month)
	var mp int64
	if m > 2 {
		mp = m - 3
	} else {
		mp = m + 9
	}
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// ageAt returns the age in whole years at ref of someone born on birth.
func ageAt(birth, ref int32) int32 {
	by, bm, bd := civil(birth)
	ry, rm, rd := civil(ref)
	age := ry - by
	if rm < bm || rm == bm && rd < bd {
		age--
	}
	return age
}
