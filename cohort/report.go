package cohort

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// ReportFormat is the de-identification report format cohort reads.
const ReportFormat = "cohortnet-deid-report/1"

// Names of the files beside the Parquet files in a de-identified folder.
const (
	ReportName = "deid-report.json"
	PolicyName = "policy.yaml"
)

// maxReportSize bounds a report read from disk.
const maxReportSize = 64 << 20

// Report is the part of package deid's report (deid-report.json) that
// publication uses. The field names are the report contract's; fields not
// named here are ignored, so deid may add some.
type Report struct {
	Format         string                 `json:"format"`
	Mode           string                 `json:"mode"`
	Intervals      bool                   `json:"intervals"`
	ReferenceDate  string                 `json:"reference_date"`
	KeyFingerprint string                 `json:"key_fingerprint"`
	Tables         map[string]ReportTable `json:"tables"`
	Files          []ReportFile           `json:"files"`
	Suppressed     map[string]int64       `json:"suppressed"`
	KAnonymity     *struct {
		KRequested int64 `json:"k_requested"`
		KAchieved  int64 `json:"k_achieved"`
	} `json:"k_anonymity"`
	Risk *struct {
		Prosecutor ReportRisk `json:"prosecutor"`
		Journalist ReportRisk `json:"journalist"`
		Marketer   ReportRisk `json:"marketer"`
	} `json:"risk"`
	Summary *struct {
		Persons    int64        `json:"persons"`
		YearMin    int64        `json:"year_min"`
		YearMax    int64        `json:"year_max"`
		Conditions []ReportCode `json:"conditions"`
		Drugs      []ReportCode `json:"drugs"`
	} `json:"summary"`
}

// ReportTable is a table's entry in the report.
type ReportTable struct {
	RowsIn  int64             `json:"rows_in"`
	RowsOut int64             `json:"rows_out"`
	Columns map[string]string `json:"columns"`
}

// ReportFile is one output file the report lists.
type ReportFile struct {
	Path    string   `json:"path"`
	Table   string   `json:"table"`
	SHA256  string   `json:"sha256"`
	Bytes   int64    `json:"bytes"`
	Rows    int64    `json:"rows"`
	Columns []string `json:"columns"`
}

// ReportRisk is a re-identification risk model's result.
type ReportRisk struct {
	Highest float64 `json:"highest"`
	Average float64 `json:"average"`
}

// ReportCode is a summary entry.
type ReportCode struct {
	Vocabulary string `json:"vocabulary"`
	Code       string `json:"code"`
	Name       string `json:"name"`
	Count      int64  `json:"count"`
}

// ParseReport parses a de-identification report and checks its format and
// mode.
func ParseReport(b []byte) (*Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("parse %s: %w", ReportName, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse %s: data after the report object", ReportName)
	}
	if r.Format != ReportFormat {
		return nil, fmt.Errorf("parse %s: format %q, want %q", ReportName, r.Format, ReportFormat)
	}
	switch r.Mode {
	case ModeExpert, ModeSafeHarbor, ModeLimited:
	default:
		return nil, fmt.Errorf("parse %s: mode %q: want expert, safe-harbor or limited", ReportName, r.Mode)
	}
	for i, f := range r.Files {
		if f.Path == "" || f.Table == "" || len(f.SHA256) != 64 {
			return nil, fmt.Errorf("parse %s: files[%d]: needs path, table and a sha256 of 64 hex digits", ReportName, i)
		}
	}
	return &r, nil
}

// ReadReport reads and parses the report file at path.
func ReadReport(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReportSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxReportSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxReportSize)
	}
	r, err := ParseReport(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// highestRisk is the highest re-identification risk of any model.
func (r *Report) highestRisk() *float64 {
	if r.Risk == nil {
		return nil
	}
	h := max(r.Risk.Prosecutor.Highest, r.Risk.Journalist.Highest, r.Risk.Marketer.Highest)
	return &h
}

// MinSummaryCount is the smallest count a public summary shows. The report
// already leaves smaller ones out; publication drops any that slipped in.
const MinSummaryCount = 11

func (r *Report) summary() *Summary {
	if r.Summary == nil {
		return nil
	}
	codes := func(in []ReportCode) []Code {
		out := make([]Code, 0, len(in))
		for _, c := range in {
			if c.Count >= MinSummaryCount {
				out = append(out, Code(c))
			}
		}
		return out
	}
	s := r.Summary
	return &Summary{Persons: s.Persons, YearMin: s.YearMin, YearMax: s.YearMax,
		Conditions: codes(s.Conditions), Drugs: codes(s.Drugs)}
}
