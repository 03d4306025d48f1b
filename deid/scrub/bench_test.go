package scrub

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// notesSample is a realistic clinical note: real Synthea text is longer
// than synth's templates.
const notesSample = `1987-11-19

# Chief Complaint
- Cough

# History of Present Illness
Sumiko254 Larue605
 is a 60 year-old nonhispanic white female. Patient has a history of part-time employment (finding), acute bronchitis (disorder), laceration of thigh.

# Social History
Patient is married. Patient quit smoking at age 20. Mrs. White was accompanied by her brother, Gregory White, who can be reached at 555-753-0076.
Home address: 671 Mill Terrace, Philadelphia, PA 19111. MRN: 55728837.

# Medications
acetaminophen 325 mg oral tablet; paclitaxel 100 mg injection; nitrofurantoin 5 mg/ml oral suspension

# Assessment and Plan
Follow-up on 9/5/15 or January 19, 2021. Dr. Ethan Wood
`

// BenchmarkScrub scrubs a note; with SCRUB_BENCH_PATTERNS set it also
// times every pattern alone.
func BenchmarkScrub(b *testing.B) {
	text := strings.Repeat(notesSample, 3)
	s := New(Config{})
	b.Run("all", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			s.Scrub(text, nil)
		}
	})
	if os.Getenv("SCRUB_BENCH_PATTERNS") == "" {
		return
	}
	for i, p := range patterns {
		b.Run(strconv.Itoa(i), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				p.re.FindAllStringSubmatchIndex(text, -1)
			}
		})
	}
}
