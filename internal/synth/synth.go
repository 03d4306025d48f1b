// Package synth generates synthetic, PHI-laden hospital exports for tests,
// demos and benchmarks: Synthea-style CSV (v3.0 layout) or FHIR R4 Bulk Data
// NDJSON, plus clinical notes with the exact byte spans of every identifier
// planted in them, and drug–event signals of known relative risk.
//
// Output is deterministic (same [Config], same bytes) and streamed: every
// patient comes from its own random stream, patients are generated in small
// batches and written in order, so memory does not grow with their number.
//
// An export directory holds:
//   - synthea-csv: the files of [CSVFiles], headers and value formats as
//     Synthea's CSV exporter writes them (free text has commas turned into
//     spaces, so nothing is quoted); about 43 rows per patient;
//   - fhir-ndjson: the files of [FHIRFiles], one resource per line, with
//     "Type/id" references that all resolve in the export; the notes are also
//     DocumentReference resources (base64 text, same ids as notes.jsonl);
//   - both: notes.jsonl (one [Note] per line: id, patient, encounter, date,
//     type, text), notes.phi.jsonl (one [NotePHI] per note: the byte spans of
//     every identifier planted in the text, typed PHIName, PHIDate...), and
//     truth.json ([Truth]: the planted signals). The same seed writes the same
//     patients and notes in both formats.
//
// Planted signals: each [Signal]'s drug is first prescribed to about 30% of
// the adults alive during a one-year uptake period late in the window (a drug
// that became common then); its event has a background rate that is highest
// around that period, and within [WindowDays] after a first exposure the
// event occurs with the planted relative risk. Only signals write their drug
// and event codes. The rates are calibrated (from a sample of the same
// population) so that DESIGN.md's exposure-based comparison, which gives the
// unexposed index dates sampled from the exposed, observes the planted RR on
// real dates; truth.json records every pair. Because the background rate
// peaks around the uptake period, that comparison overstates the RR once each
// person's dates are shifted by their own offset (expert mode); query's
// self-controlled comparison observes about the planted RR there (query's
// TestExposurePRRUnderDateShifts measures both).
//
// It is not a clinical simulator: the populations are plausible (ages 0 to
// 105, skewed code frequencies, deaths, restricted ZIP3s, several states) but
// nothing here models disease progression faithfully. Never use its output as
// real data; every identifier it writes is invented (SSNs start with 999,
// phone numbers with 555).
package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Signal is a planted adverse-event signal: starting Drug raises the chance
// that the Event condition starts within 30 days by the relative risk RR.
type Signal struct {
	Drug  string  // RxNorm code of the drug
	Event string  // SNOMED CT code of the event condition
	RR    float64 // intended relative risk, > 0
}

// String formats s as ParseSignal reads it.
func (s Signal) String() string {
	return s.Drug + ":" + s.Event + ":" + strconv.FormatFloat(s.RR, 'g', -1, 64)
}

// ParseSignal reads "DRUG:EVENT:RR", e.g. "314076:41291007:4".
func ParseSignal(s string) (Signal, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Signal{}, fmt.Errorf("synth: signal %q: want DRUG:EVENT:RR (RxNorm code, SNOMED CT code, relative risk)", s)
	}
	for i, p := range parts[:2] {
		if p == "" || strings.Trim(p, "0123456789") != "" || len(p) > 18 {
			what := [...]string{"drug (RxNorm)", "event (SNOMED CT)"}[i]
			return Signal{}, fmt.Errorf("synth: signal %q: %s code %q is not a numeric code", s, what, p)
		}
	}
	rr, err := strconv.ParseFloat(parts[2], 64)
	if err != nil || !(rr > 0) || rr > 100 {
		return Signal{}, fmt.Errorf("synth: signal %q: relative risk %q must be a number above 0 and at most 100", s, parts[2])
	}
	if parts[0] == parts[1] {
		return Signal{}, fmt.Errorf("synth: signal %q: drug and event codes are the same", s)
	}
	return Signal{Drug: parts[0], Event: parts[1], RR: rr}, nil
}

// DefaultSignals are planted when Config.Signals is nil: three common drugs
// with real RxNorm codes and events with real SNOMED CT codes. Each has well
// over 100 exposed events at 10,000 patients.
var DefaultSignals = []Signal{
	{Drug: "314076", Event: "41291007", RR: 4},   // lisinopril 10 MG Oral Tablet → angioedema
	{Drug: "312961", Event: "68962001", RR: 3},   // simvastatin 20 MG Oral Tablet → muscle pain
	{Drug: "562251", Event: "62315008", RR: 2.5}, // amoxicillin/clavulanate → diarrhea
}

// Formats that Generate writes.
const (
	FormatSyntheaCSV = "synthea-csv"
	FormatFHIR       = "fhir-ndjson"
)

// Config says what to generate. The zero value (plus Out) is valid.
type Config struct {
	Patients    int    // number of patients; default 1000
	Seed        int64  // random seed; same seed and flags give byte-identical output
	Format      string // FormatSyntheaCSV (default) or FormatFHIR
	Out         string // output directory; created; must not exist or be empty
	Institution string // changes the population mix; "" is a generic hospital
	// Signals are the planted adverse-event signals; nil means DefaultSignals,
	// an empty non-nil slice plants none.
	Signals            []Signal
	StartYear, EndYear int                   // encounter years, inclusive; default 2014..2025
	Progress           func(done, total int) // optional; called every few thousand patients and at the end
}

// Result describes what Generate wrote.
type Result struct {
	Dir      string // the output directory
	Patients int
	Rows     int64 // rows over all files (lines without headers)
	Bytes    int64 // bytes over all files
	Files    []File
}

// File is one written file.
type File struct {
	Name  string `json:"name"` // base name within Dir
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Truth is the content of truth.json: what was planted, so tests and demos
// can compare what a pipeline finds with what is really there.
type Truth struct {
	Seed        int64         `json:"seed"`
	Patients    int           `json:"patients"`
	Institution string        `json:"institution"`
	Format      string        `json:"format"`
	StartYear   int           `json:"start_year"`
	EndYear     int           `json:"end_year"`
	Signals     []TruthSignal `json:"signals"`
}

// TruthSignal is one planted pair in truth.json.
type TruthSignal struct {
	Drug      string  `json:"drug"`
	DrugName  string  `json:"drug_name"`
	Event     string  `json:"event"`
	EventName string  `json:"event_name"`
	RR        float64 `json:"rr"`
	// WindowDays is the risk window after the first exposure.
	WindowDays int `json:"window_days"`
}

// WindowDays is the risk window of planted signals: the event starts within
// this many days after the first exposure.
const WindowDays = 30

// TruthFile, NotesFile and PHIFile are names of files written in both formats.
const (
	TruthFile = "truth.json"
	NotesFile = "notes.jsonl"
	PHIFile   = "notes.phi.jsonl"
)

// ReadTruth reads truth.json from an export directory.
func ReadTruth(dir string) (*Truth, error) {
	data, err := os.ReadFile(filepath.Join(dir, TruthFile))
	if err != nil {
		return nil, fmt.Errorf("synth: read %s: %w", TruthFile, err)
	}
	var t Truth
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("synth: %s: %w", filepath.Join(dir, TruthFile), err)
	}
	return &t, nil
}

// ErrOutExists is returned when Config.Out exists and is not empty: choose
// another directory or remove it first.
var ErrOutExists = errors.New("output directory exists and is not empty")

func (c Config) withDefaults() (Config, error) {
	if c.Patients == 0 {
		c.Patients = 1000
	}
	if c.Patients < 0 {
		return c, fmt.Errorf("synth: patients %d: must be positive", c.Patients)
	}
	if c.Format == "" {
		c.Format = FormatSyntheaCSV
	}
	if c.Format != FormatSyntheaCSV && c.Format != FormatFHIR {
		return c, fmt.Errorf("synth: format %q: use %s or %s", c.Format, FormatSyntheaCSV, FormatFHIR)
	}
	if c.Out == "" {
		return c, errors.New("synth: no output directory given")
	}
	if c.StartYear == 0 {
		c.StartYear = 2014
	}
	if c.EndYear == 0 {
		c.EndYear = 2025
	}
	if c.StartYear < 1900 || c.EndYear > 2100 || c.EndYear < c.StartYear {
		return c, fmt.Errorf("synth: years %d..%d: want 1900 <= start <= end <= 2100", c.StartYear, c.EndYear)
	}
	if c.Signals == nil {
		c.Signals = DefaultSignals
	}
	seen := map[string]bool{}
	for _, s := range c.Signals {
		if !(s.RR > 0) {
			return c, fmt.Errorf("synth: signal %s: relative risk must be above 0", s)
		}
		if seen[s.Drug] || seen[s.Event] {
			return c, fmt.Errorf("synth: signal %s: each drug and event code may be planted once", s)
		}
		seen[s.Drug], seen[s.Event] = true, true
	}
	for _, s := range c.Signals {
		if seen["e"+s.Drug] {
			return c, fmt.Errorf("synth: signal %s: code is used as both a drug and an event", s)
		}
		seen["e"+s.Event] = true
	}
	return c, nil
}

// Generate writes a synthetic export of cfg.Patients patients to cfg.Out.
// It writes into a temporary directory beside Out and renames it into place
// only when complete, so Out never holds a partial export. It stops early,
// writing nothing, when ctx is cancelled.
func Generate(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	out := filepath.Clean(cfg.Out)
	if entries, err := os.ReadDir(out); err == nil {
		if len(entries) > 0 {
			return nil, fmt.Errorf("synth: %s: %w", out, ErrOutExists)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("synth: check output directory: %w", err)
	}
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("synth: create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("synth: create temporary directory: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()

	g := newGenerator(cfg)
	var records sink
	if cfg.Format == FormatFHIR {
		records, err = newFHIRSink(tmp, g)
	} else {
		records, err = newCSVSink(tmp, g)
	}
	if err != nil {
		return nil, err
	}
	notes, err := newNoteSink(tmp)
	if err != nil {
		records.abort()
		return nil, err
	}
	files := newFileSet(records, notes)
	outs := append(records.outputs(), notes.outputs()...)
	step := progressStep(cfg.Patients)
	prev := 0
	err = generateBatches(ctx, g, func(b *batch, done int) error {
		for j, o := range outs {
			o.append(b.outs[j])
		}
		if err := firstErr(outs); err != nil {
			return err
		}
		if cfg.Progress != nil && done/step > prev/step && done != cfg.Patients {
			cfg.Progress(done/step*step, cfg.Patients)
		}
		prev = done
		return nil
	})
	if err != nil {
		files.abort()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("synth: stopped after %d patients: %w", prev, ctx.Err())
		}
		return nil, err
	}
	res := &Result{Dir: out, Patients: cfg.Patients}
	if err := files.close(res); err != nil {
		return nil, err
	}
	truth, err := json.MarshalIndent(g.truth(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("synth: encode %s: %w", TruthFile, err)
	}
	truth = append(truth, '\n')
	if err := writeFileSync(filepath.Join(tmp, TruthFile), truth); err != nil {
		return nil, err
	}
	res.Files = append(res.Files, File{Name: TruthFile, Bytes: int64(len(truth))})
	res.Bytes += int64(len(truth))
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	// The output directory may exist empty (checked above); replace it.
	if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("synth: replace empty %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("synth: move export into place: %w", err)
	}
	done = true
	if err := syncDir(parent); err != nil {
		return nil, err
	}
	if cfg.Progress != nil {
		cfg.Progress(cfg.Patients, cfg.Patients)
	}
	return res, nil
}

func progressStep(n int) int {
	switch {
	case n >= 100000:
		return 5000
	case n >= 10000:
		return 1000
	default:
		return 100
	}
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("synth: write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("synth: write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("synth: sync %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("synth: close %s: %w", filepath.Base(path), err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("synth: sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("synth: sync directory %s: %w", dir, err)
	}
	return nil
}
