package deid

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// ReportFormat is the value of [Report.Format].
const ReportFormat = "cohortnet-deid-report/1"

// Report is deid-report.json, the contract package cohort reads (field names
// fixed; new fields may be added). It holds no wall-clock time, so the same
// input, key and policy give the same bytes.
type Report struct {
	Format         string                  `json:"format"`
	Mode           Mode                    `json:"mode"`
	Intervals      bool                    `json:"intervals"`
	ReferenceDate  string                  `json:"reference_date"`
	KeyFingerprint string                  `json:"key_fingerprint"`
	Source         SourceInfo              `json:"source"`
	Tables         map[string]*TableReport `json:"tables"`
	Files          []FileEntry             `json:"files"`
	Suppressed     Suppressed              `json:"suppressed"`
	KAnonymity     *KReport                `json:"k_anonymity"`
	LDiversity     *LReport                `json:"l_diversity"`
	Risk           *Risk                   `json:"risk"`
	Summary        Summary                 `json:"summary"`
}

// SourceInfo names the adapter and layout the input came from.
type SourceInfo struct {
	Format string `json:"format"`
	Layout string `json:"layout"`
	// Unmapped counts source rows the adapter could not map, by reason.
	Unmapped map[string]int64 `json:"unmapped,omitempty"`
}

// TableReport counts one table's rows and says what happened to each column.
type TableReport struct {
	RowsIn  int64                `json:"rows_in"`
	RowsOut int64                `json:"rows_out"`
	Columns map[string]Transform `json:"columns"`
	// Orphans are rows whose person is not in the person table (left out).
	Orphans int64 `json:"orphans,omitempty"`
	// Notes say more about a column's transform where it has caveats, such
	// as a year of birth derived from an age ([YearFromAge]).
	Notes map[string]string `json:"notes,omitempty"`
}

// FileEntry is one output Parquet file. Path is relative to the dataset
// directory, with forward slashes.
type FileEntry struct {
	Path    string   `json:"path"`
	Table   string   `json:"table"`
	SHA256  string   `json:"sha256"`
	Bytes   int64    `json:"bytes"`
	Rows    int64    `json:"rows"`
	Columns []string `json:"columns"`
}

// Suppressed counts the persons left out, by reason.
type Suppressed struct {
	OptOut     int64 `json:"opt_out"`
	KAnonymity int64 `json:"k_anonymity"`
}

// KReport is the outcome of the k-anonymity search.
type KReport struct {
	KRequested       int              `json:"k_requested"`
	KAchieved        int              `json:"k_achieved"`
	QuasiIdentifiers []string         `json:"quasi_identifiers"`
	Levels           map[string]int   `json:"levels"`
	Heights          map[string]int   `json:"heights"`
	LossMetric       string           `json:"loss_metric"`
	Loss             float64          `json:"loss"`
	MaxSuppression   float64          `json:"max_suppression"`
	Classes          int              `json:"classes"`
	ClassSizes       map[string]int64 `json:"class_sizes"`
	NodesTotal       int              `json:"lattice_nodes"`
	NodesEvaluated   int              `json:"nodes_evaluated"`
}

// LReport is the outcome of distinct l-diversity.
type LReport struct {
	Sensitive  string `json:"sensitive"`
	LRequested int    `json:"l_requested"`
	LAchieved  int    `json:"l_achieved"`
}

// Risk holds re-identification risks of the released records.
type Risk struct {
	Prosecutor RiskPair `json:"prosecutor"`
	Journalist RiskPair `json:"journalist"`
	Marketer   RiskPair `json:"marketer"`
	// Model says how the risks were measured: which population the
	// journalist risk assumes ([RiskModelSample]).
	Model string `json:"model"`
}

// RiskModelSample is the model of every risk deid reports: equivalence
// classes are counted in the released records. The journalist attacker
// matches a record against a population register, whose class sizes are at
// least those of the release; with no population table given, the release is
// taken as its own population, so the journalist risk equals the prosecutor
// risk, its upper bound (ARX does the same without a population model).
const RiskModelSample = "sample-as-population: classes counted in the released records; no population table was given, so journalist risk is set to prosecutor risk, its upper bound"

// RiskPair is a risk's highest and average value over records.
type RiskPair struct {
	Highest float64 `json:"highest"`
	Average float64 `json:"average"`
}

// Summary is the public summary publication copies into the manifest.
type Summary struct {
	Persons    int64       `json:"persons"`
	YearMin    int32       `json:"year_min,omitempty"`
	YearMax    int32       `json:"year_max,omitempty"`
	Conditions []CodeCount `json:"conditions"`
	Drugs      []CodeCount `json:"drugs"`
}

// CodeCount is a code with its number of records (rows).
type CodeCount struct {
	Vocabulary string `json:"vocabulary"`
	Code       string `json:"code"`
	Name       string `json:"name"`
	Count      int64  `json:"count"`
}

// SmallCount is the smallest count a summary shows; smaller ones are left out.
const SmallCount = 11

// TopCodes is how many conditions and drugs the summary lists.
const TopCodes = 20

// Marshal encodes the report as indented JSON with sorted map keys.
func (r *Report) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// codeCounter counts codes for the summary.
type codeCounter struct {
	m map[[2]string]*CodeCount
}

func (c *codeCounter) add(vocab, code, name string) {
	if code == "" {
		return
	}
	if c.m == nil {
		c.m = map[[2]string]*CodeCount{}
	}
	k := [2]string{vocab, code}
	cc := c.m[k]
	if cc == nil {
		// clones: the arguments may point into Arrow buffers
		vocab, code = strings.Clone(vocab), strings.Clone(code)
		cc = &CodeCount{Vocabulary: vocab, Code: code, Name: strings.Clone(name)}
		c.m[[2]string{vocab, code}] = cc
	}
	if cc.Name == "" || (name != "" && name < cc.Name) {
		cc.Name = strings.Clone(name) // deterministic whatever the row order
	}
	cc.Count++
}

// top returns the n most frequent codes with counts of at least SmallCount,
// ties broken by vocabulary and code.
func (c *codeCounter) top(n int) []CodeCount {
	out := []CodeCount{}
	for _, cc := range c.m {
		if cc.Count >= SmallCount {
			out = append(out, *cc)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Vocabulary != b.Vocabulary {
			return a.Vocabulary < b.Vocabulary
		}
		return a.Code < b.Code
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// classBucket names the histogram bucket of an equivalence-class size.
func classBucket(size int64) string {
	bounds := []int64{1, 2, 5, 11, 20, 50, 100, 1000}
	for i := len(bounds) - 1; i >= 0; i-- {
		if size >= bounds[i] {
			lo := bounds[i]
			if i == len(bounds)-1 {
				return strconv.FormatInt(lo, 10) + "+"
			}
			hi := bounds[i+1] - 1
			if lo == hi {
				return strconv.FormatInt(lo, 10)
			}
			return strconv.FormatInt(lo, 10) + "-" + strconv.FormatInt(hi, 10)
		}
	}
	return "0"
}
