package synth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohortnet/cohortnet/internal/sampledata"
)

func generate(t *testing.T, cfg Config) (string, *Result) {
	t.Helper()
	if cfg.Out == "" {
		cfg.Out = filepath.Join(t.TempDir(), "export")
	}
	res, err := Generate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Out, res
}

func firstLine(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return strings.TrimRight(line, "\r\n")
}

func TestSameSeedSameBytes(t *testing.T) {
	for _, format := range []string{FormatSyntheaCSV, FormatFHIR} {
		t.Run(format, func(t *testing.T) {
			// 600 patients make three batches: one goroutine and three
			// must write the same bytes.
			cfg := Config{Patients: 600, Seed: 7, Format: format, Institution: "Hospital A"}
			defer func() { workersOverride = 0 }()
			workersOverride = 1
			a, resA := generate(t, cfg)
			workersOverride = 3
			b, _ := generate(t, cfg)
			workersOverride = 0
			cfg.Seed = 8
			c, _ := generate(t, cfg)
			differs := false
			for _, f := range resA.Files {
				da, err := os.ReadFile(filepath.Join(a, f.Name))
				if err != nil {
					t.Fatal(err)
				}
				db, err := os.ReadFile(filepath.Join(b, f.Name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(da, db) {
					t.Errorf("%s differs between two runs with the same seed", f.Name)
				}
				if int64(len(da)) != f.Bytes {
					t.Errorf("%s: Result says %d bytes, file has %d", f.Name, f.Bytes, len(da))
				}
				dc, err := os.ReadFile(filepath.Join(c, f.Name))
				if err != nil {
					t.Fatal(err)
				}
				// truth.json, organizations and clinicians describe the
				// hospital, not its patients: they may stay the same.
				sameOK := f.Name == TruthFile || f.Name == "Organization.000.ndjson" || f.Name == "Practitioner.000.ndjson"
				if !sameOK && bytes.Equal(da, dc) {
					t.Errorf("%s is the same with another seed", f.Name)
				}
				differs = differs || !bytes.Equal(da, dc)
			}
			if !differs {
				t.Error("another seed gave the same export")
			}
		})
	}
}

// TestOtherInstitutionOtherPatients checks that the same seed at another
// institution gives another hospital: other patients, another geographic and
// demographic mix, but the same code systems.
func TestOtherInstitutionOtherPatients(t *testing.T) {
	type mix struct {
		ids    map[string]bool
		states map[string]float64
		codes  map[string]int
		n      float64
	}
	load := func(institution string) mix {
		out, _ := generate(t, Config{Patients: 500, Seed: 1, Institution: institution})
		m := mix{ids: map[string]bool{}, states: map[string]float64{}, codes: map[string]int{}}
		readCSV(t, filepath.Join(out, "patients.csv"), func(r map[string]string) {
			m.ids[r["Id"]] = true
			m.states[r["STATE"]]++
			m.n++
		})
		readCSV(t, filepath.Join(out, "conditions.csv"), func(r map[string]string) { m.codes[r["CODE"]]++ })
		return m
	}
	a, b := load("Hospital A"), load("Hospital B")
	for id := range b.ids {
		if a.ids[id] {
			t.Fatalf("patient %s is in both hospitals", id)
		}
	}
	// Total variation distance between the state distributions.
	tv := 0.0
	for st := range a.states {
		tv += max(a.states[st]/a.n-b.states[st]/b.n, 0)
	}
	if tv < 0.3 {
		t.Errorf("state mix of the two hospitals differs by %.2f (total variation), want a different hospital", tv)
	}
	shared := 0
	for code, n := range b.codes {
		if n >= 10 && a.codes[code] > 0 {
			shared++
		}
	}
	if shared < 20 {
		t.Errorf("only %d common condition codes of Hospital B also occur at Hospital A", shared)
	}
}

func TestCSVHeadersMatchSynthea(t *testing.T) {
	real := sampledata.Dir(t, "synthea-csv-27")
	out, _ := generate(t, Config{Patients: 20, Seed: 3})
	for _, name := range CSVFiles {
		t.Run(name, func(t *testing.T) {
			want := firstLine(t, filepath.Join(real, name))
			got := firstLine(t, filepath.Join(out, name))
			if got != want {
				t.Errorf("header\n got %s\nwant %s", got, want)
			}
		})
	}
	const v30 = "Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,MARITAL,RACE,ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,ZIP,LAT,LON,HEALTHCARE_EXPENSES,HEALTHCARE_COVERAGE"
	if got := firstLine(t, filepath.Join(out, "patients.csv")); got != v30 {
		t.Errorf("patients.csv header is not the v3.0 layout: %s", got)
	}
}

var (
	reUUID  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reMoney = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	reCode  = regexp.MustCompile(`^[0-9]+$`)
	reLOINC = regexp.MustCompile(`^[0-9]+-[0-9]$`)
	reSSN   = regexp.MustCompile(`^999-[0-9]{2}-[0-9]{4}$`)
	reZIP   = regexp.MustCompile(`^[0-9]{5}$`)
)

// TestCSVValues reads every row back with encoding/csv and checks the value
// formats of the real export: dates, timestamps with Z, codes, money with two
// decimals, ids that resolve.
func TestCSVValues(t *testing.T) {
	out, res := generate(t, Config{Patients: 2000, Seed: 11})
	check := func(file, field, v string, ok bool) {
		t.Helper()
		if !ok {
			t.Fatalf("%s: %s = %q: unexpected format", file, field, v)
		}
	}
	isDate := func(v string) bool { _, err := time.Parse(time.DateOnly, v); return err == nil }
	isTime := func(v string) bool {
		_, err := time.Parse("2006-01-02T15:04:05Z", v)
		return err == nil
	}
	patients := map[string]bool{}
	var maxAge, over89, deaths, restricted, hispanic int
	races := map[string]bool{}
	genders := map[string]int{}
	restrictedZIP3 := map[string]bool{}
	for _, z := range RestrictedZIP3 {
		restrictedZIP3[z] = true
	}
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	readCSV(t, filepath.Join(out, "patients.csv"), func(r map[string]string) {
		f := "patients.csv"
		check(f, "Id", r["Id"], reUUID.MatchString(r["Id"]))
		patients[r["Id"]] = true
		check(f, "BIRTHDATE", r["BIRTHDATE"], isDate(r["BIRTHDATE"]))
		check(f, "DEATHDATE", r["DEATHDATE"], r["DEATHDATE"] == "" || isDate(r["DEATHDATE"]))
		check(f, "SSN", r["SSN"], reSSN.MatchString(r["SSN"]))
		check(f, "GENDER", r["GENDER"], r["GENDER"] == "F" || r["GENDER"] == "M")
		check(f, "ZIP", r["ZIP"], r["ZIP"] == "" || reZIP.MatchString(r["ZIP"]))
		check(f, "HEALTHCARE_EXPENSES", r["HEALTHCARE_EXPENSES"], reMoney.MatchString(r["HEALTHCARE_EXPENSES"]))
		for _, k := range []string{"LAT", "LON"} {
			_, err := strconv.ParseFloat(r[k], 64)
			check(f, k, r[k], err == nil)
		}
		check(f, "FIRST", r["FIRST"], r["FIRST"] != "" && r["LAST"] != "")
		birth, _ := time.Parse(time.DateOnly, r["BIRTHDATE"])
		last := end
		if r["DEATHDATE"] != "" {
			last, _ = time.Parse(time.DateOnly, r["DEATHDATE"])
			deaths++
			if last.Before(birth) {
				t.Fatalf("patients.csv: %s died before birth", r["Id"])
			}
		}
		age := int(last.Sub(birth).Hours() / 24 / 365.25)
		maxAge = max(maxAge, age)
		if age > 89 {
			over89++
		}
		if len(r["ZIP"]) == 5 && restrictedZIP3[r["ZIP"][:3]] {
			restricted++
		}
		races[r["RACE"]] = true
		genders[r["GENDER"]]++
		if r["ETHNICITY"] == "hispanic" {
			hispanic++
		}
	})
	if maxAge > 105 || maxAge < 95 {
		t.Errorf("oldest patient is %d, want ages up to 105", maxAge)
	}
	if over89 == 0 || deaths == 0 || restricted == 0 || hispanic == 0 {
		t.Errorf("population lacks variety: %d over 89, %d deaths, %d in restricted ZIP3s, %d hispanic", over89, deaths, restricted, hispanic)
	}
	if len(races) < 5 || genders["F"] == 0 || genders["M"] == 0 {
		t.Errorf("races %v, genders %v: want at least 5 races and both sexes", races, genders)
	}

	encounters := map[string]string{} // id → patient
	classes := map[string]int{}
	readCSV(t, filepath.Join(out, "encounters.csv"), func(r map[string]string) {
		f := "encounters.csv"
		check(f, "Id", r["Id"], reUUID.MatchString(r["Id"]))
		check(f, "START", r["START"], isTime(r["START"]))
		check(f, "STOP", r["STOP"], isTime(r["STOP"]) && r["STOP"] >= r["START"])
		check(f, "PATIENT", r["PATIENT"], patients[r["PATIENT"]])
		for _, k := range []string{"ORGANIZATION", "PROVIDER", "PAYER"} {
			check(f, k, r[k], reUUID.MatchString(r[k]))
		}
		check(f, "CODE", r["CODE"], reCode.MatchString(r["CODE"]))
		for _, k := range []string{"BASE_ENCOUNTER_COST", "TOTAL_CLAIM_COST", "PAYER_COVERAGE"} {
			check(f, k, r[k], reMoney.MatchString(r[k]))
		}
		check(f, "REASONCODE", r["REASONCODE"], r["REASONCODE"] == "" || reCode.MatchString(r["REASONCODE"]))
		encounters[r["Id"]] = r["PATIENT"]
		classes[r["ENCOUNTERCLASS"]]++
		if y := r["START"][:4]; y < "2014" || y > "2025" {
			t.Fatalf("encounters.csv: START %s outside 2014..2025", r["START"])
		}
	})
	for _, c := range []string{"wellness", "ambulatory", "emergency", "inpatient", "urgentcare"} {
		if classes[c] == 0 {
			t.Errorf("no %s encounters (classes %v)", c, classes)
		}
	}
	ref := func(f string, r map[string]string) {
		t.Helper()
		check(f, "PATIENT", r["PATIENT"], patients[r["PATIENT"]])
		check(f, "ENCOUNTER", r["ENCOUNTER"], encounters[r["ENCOUNTER"]] == r["PATIENT"])
	}
	condCodes := map[string]bool{}
	readCSV(t, filepath.Join(out, "conditions.csv"), func(r map[string]string) {
		f := "conditions.csv"
		ref(f, r)
		check(f, "START", r["START"], isDate(r["START"]))
		check(f, "STOP", r["STOP"], r["STOP"] == "" || (isDate(r["STOP"]) && r["STOP"] >= r["START"]))
		check(f, "CODE", r["CODE"], reCode.MatchString(r["CODE"]) && r["DESCRIPTION"] != "")
		condCodes[r["CODE"]] = true
	})
	drugCodes := map[string]bool{}
	readCSV(t, filepath.Join(out, "medications.csv"), func(r map[string]string) {
		f := "medications.csv"
		ref(f, r)
		check(f, "START", r["START"], isTime(r["START"]))
		check(f, "STOP", r["STOP"], r["STOP"] == "" || (isTime(r["STOP"]) && r["STOP"] >= r["START"]))
		check(f, "CODE", r["CODE"], reCode.MatchString(r["CODE"]))
		for _, k := range []string{"BASE_COST", "PAYER_COVERAGE", "TOTALCOST"} {
			check(f, k, r[k], reMoney.MatchString(r[k]))
		}
		_, err := strconv.Atoi(r["DISPENSES"])
		check(f, "DISPENSES", r["DISPENSES"], err == nil)
		drugCodes[r["CODE"]] = true
	})
	readCSV(t, filepath.Join(out, "immunizations.csv"), func(r map[string]string) {
		f := "immunizations.csv"
		ref(f, r)
		check(f, "DATE", r["DATE"], isTime(r["DATE"]))
		check(f, "CODE", r["CODE"], reCode.MatchString(r["CODE"]))
		check(f, "BASE_COST", r["BASE_COST"], reMoney.MatchString(r["BASE_COST"]))
	})
	readCSV(t, filepath.Join(out, "observations.csv"), func(r map[string]string) {
		f := "observations.csv"
		ref(f, r)
		check(f, "DATE", r["DATE"], isTime(r["DATE"]))
		check(f, "CODE", r["CODE"], reLOINC.MatchString(r["CODE"]))
		switch r["TYPE"] {
		case "numeric":
			_, err := strconv.ParseFloat(r["VALUE"], 64)
			check(f, "VALUE", r["VALUE"], err == nil && r["UNITS"] != "")
		case "text":
			check(f, "VALUE", r["VALUE"], r["VALUE"] != "" && r["UNITS"] == "")
		default:
			check(f, "TYPE", r["TYPE"], false)
		}
	})
	readCSV(t, filepath.Join(out, "procedures.csv"), func(r map[string]string) {
		f := "procedures.csv"
		ref(f, r)
		check(f, "START", r["START"], isTime(r["START"]))
		check(f, "STOP", r["STOP"], isTime(r["STOP"]) && r["STOP"] >= r["START"])
		check(f, "CODE", r["CODE"], reCode.MatchString(r["CODE"]))
		check(f, "BASE_COST", r["BASE_COST"], reMoney.MatchString(r["BASE_COST"]))
	})
	if len(condCodes) < 500 || len(drugCodes) < 100 {
		t.Errorf("%d condition codes and %d drug codes at 2,000 patients: want hundreds", len(condCodes), len(drugCodes))
	}
	var csvRows int64
	for _, f := range res.Files {
		if strings.HasSuffix(f.Name, ".csv") {
			csvRows += f.Rows
		}
	}
	perPatient := float64(csvRows) / float64(res.Patients)
	t.Logf("%.1f rows per patient over the CSV tables; %d condition codes, %d drug codes", perPatient, len(condCodes), len(drugCodes))
	if perPatient < 30 || perPatient > 60 {
		t.Errorf("%.1f rows per patient, want about 40", perPatient)
	}
}

func TestGeneratedSNOMEDCodesHaveCheckDigits(t *testing.T) {
	if len(genConditions) < 2000 {
		t.Errorf("%d generated condition codes, want thousands", len(genConditions))
	}
	seen := map[string]bool{}
	for _, c := range genConditions {
		if !verhoeffValid(c.code) || c.code[len(c.code)-3:len(c.code)-1] != "00" {
			t.Fatalf("generated code %s (%s) is not a valid SNOMED CT concept id", c.code, c.name)
		}
		if seen[c.code] {
			t.Fatalf("generated code %s twice", c.code)
		}
		seen[c.code] = true
	}
	// Real SNOMED CT ids pass the same check: the signal events.
	for _, s := range DefaultSignals {
		if !verhoeffValid(s.Event) {
			t.Errorf("default event %s fails the Verhoeff check", s.Event)
		}
	}
}

func TestNotesPHISpans(t *testing.T) {
	out, _ := generate(t, Config{Patients: 500, Seed: 5})
	texts := map[string]string{}
	patients := map[string]map[string]string{}
	readCSV(t, filepath.Join(out, "patients.csv"), func(r map[string]string) {
		patients[r["Id"]] = map[string]string{"first": r["FIRST"], "last": r["LAST"], "ssn": r["SSN"]}
	})
	owner := map[string]string{}
	readLines(t, filepath.Join(out, NotesFile), func(line []byte) {
		var n Note
		if err := json.Unmarshal(line, &n); err != nil {
			t.Fatalf("notes.jsonl: %v", err)
		}
		if n.ID == "" || n.Type == "" || n.Text == "" || patients[n.Patient] == nil {
			t.Fatalf("notes.jsonl: incomplete note %s", n.ID)
		}
		if _, err := time.Parse(time.DateOnly, n.Date); err != nil {
			t.Fatalf("notes.jsonl: note %s date %q", n.ID, n.Date)
		}
		texts[n.ID] = n.Text
		owner[n.ID] = n.Patient
	})
	if len(texts) < 100 {
		t.Fatalf("%d notes for 500 patients", len(texts))
	}
	types := map[string]int{}
	nspans := 0
	readLines(t, filepath.Join(out, PHIFile), func(line []byte) {
		var np NotePHI
		if err := json.Unmarshal(line, &np); err != nil {
			t.Fatalf("notes.phi.jsonl: %v", err)
		}
		text, ok := texts[np.ID]
		if !ok {
			t.Fatalf("notes.phi.jsonl: note %s not in notes.jsonl", np.ID)
		}
		if len(np.Spans) == 0 {
			t.Fatalf("note %s: no spans", np.ID)
		}
		prevEnd := 0
		for _, s := range np.Spans {
			if s.Start < prevEnd || s.End <= s.Start || s.End > len(text) {
				t.Fatalf("note %s: span %d..%d out of order or range (text %d bytes)", np.ID, s.Start, s.End, len(text))
			}
			if got := text[s.Start:s.End]; got != s.Text {
				t.Fatalf("note %s: span %d..%d is %q, planted %q", np.ID, s.Start, s.End, got, s.Text)
			}
			prevEnd = s.End
			types[s.Type]++
			nspans++
			if s.Type == PHISSN && s.Text != patients[owner[np.ID]]["ssn"] {
				t.Fatalf("note %s: SSN span is not the patient's SSN", np.ID)
			}
		}
		// The patient's own name is in every note.
		p := patients[owner[np.ID]]
		if !strings.Contains(text, p["last"]) && !strings.Contains(text, p["first"]) {
			t.Fatalf("note %s does not name its patient", np.ID)
		}
		delete(texts, np.ID)
	})
	if len(texts) != 0 {
		t.Errorf("%d notes have no line in notes.phi.jsonl", len(texts))
	}
	for _, typ := range []string{PHIName, PHIDate, PHIAge, PHIPhone, PHIMRN, PHIAddress, PHIZIP, PHISSN, PHIEmail, PHICity, PHIFax, PHIURL, PHIIP, PHIID} {
		if types[typ] == 0 {
			t.Errorf("no %s spans planted (%v)", typ, types)
		}
	}
	t.Logf("%d spans: %v", nspans, types)
}

func readLines(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestOutput(t *testing.T) {
	t.Run("existing non-empty directory is refused", func(t *testing.T) {
		out := t.TempDir()
		if err := os.WriteFile(filepath.Join(out, "keep"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Generate(t.Context(), Config{Patients: 5, Out: out})
		if !errors.Is(err, ErrOutExists) {
			t.Fatalf("err = %v, want ErrOutExists", err)
		}
	})
	t.Run("empty directory is filled", func(t *testing.T) {
		out := t.TempDir()
		res, err := Generate(t.Context(), Config{Patients: 5, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		if res.Patients != 5 || len(res.Files) != len(CSVFiles)+3 {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("cancelled run leaves nothing", func(t *testing.T) {
		parent := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := Generate(ctx, Config{Patients: 5000, Out: filepath.Join(parent, "x")})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		entries, _ := os.ReadDir(parent)
		if len(entries) != 0 {
			t.Fatalf("cancelled run left %v", entries)
		}
	})
	t.Run("progress reaches the total", func(t *testing.T) {
		var last, calls int
		_, err := Generate(t.Context(), Config{Patients: 1000, Out: filepath.Join(t.TempDir(), "x"), Progress: func(done, total int) {
			if total != 1000 || done < last {
				t.Errorf("progress %d/%d after %d", done, total, last)
			}
			last = done
			calls++
		}})
		if err != nil {
			t.Fatal(err)
		}
		if last != 1000 || calls < 2 {
			t.Errorf("progress ended at %d after %d calls", last, calls)
		}
	})
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		want    Signal
		wantErr bool
	}{
		{"314076:41291007:4", Signal{"314076", "41291007", 4}, false},
		{"562251:62315008:2.5", Signal{"562251", "62315008", 2.5}, false},
		{"314076:41291007", Signal{}, true},
		{"lisinopril:41291007:4", Signal{}, true},
		{"314076:41291007:0", Signal{}, true},
		{"314076:41291007:-2", Signal{}, true},
		{"314076:41291007:NaN", Signal{}, true},
		{"314076:314076:2", Signal{}, true},
		{"::", Signal{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSignal(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseSignal(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				back, err := ParseSignal(got.String())
				if err != nil || back != got {
					t.Fatalf("round trip of %v: %v, %v", got, back, err)
				}
			}
		})
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"314076:41291007:4", "1:2:0.5", "a:b:c", "", "1:2:3:4", "9:8:1e2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err != nil {
			return
		}
		if !(sig.RR > 0) || sig.Drug == "" || sig.Event == "" || sig.Drug == sig.Event {
			t.Fatalf("ParseSignal(%q) accepted %+v", s, sig)
		}
		back, err := ParseSignal(sig.String())
		if err != nil || back != sig {
			t.Fatalf("round trip of %+v: %+v, %v", sig, back, err)
		}
	})
}

// TestStreamsWithConstantMemory fails when generation holds patients: the
// live heap, sampled while 20,000 patients are written, must stay small.
func TestStreamsWithConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 patients")
	}
	var peak uint64
	var ms runtime.MemStats
	_, err := Generate(t.Context(), Config{Patients: 20000, Seed: 4, Out: filepath.Join(t.TempDir(), "x"), Progress: func(done, total int) {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak heap in use %.1f MB", float64(peak)/1e6)
	if peak > 64<<20 {
		t.Errorf("heap in use reached %.1f MB while writing 20,000 patients: generation is not streaming", float64(peak)/1e6)
	}
}

// FuzzGenerate runs odd configurations (tiny windows, one patient, extreme
// relative risks): generation must succeed, write every patient, and plant
// note spans that point at their text.
func FuzzGenerate(f *testing.F) {
	f.Add(uint8(1), int64(0), uint8(0), uint8(0), 1.0, false)
	f.Add(uint8(19), int64(-5), uint8(35), uint8(0), 50.0, true)
	f.Add(uint8(7), int64(99), uint8(10), uint8(14), 0.1, false)
	f.Fuzz(func(t *testing.T, n uint8, seed int64, start, span uint8, rr float64, fhir bool) {
		if !(rr >= 0.1 && rr <= 50) {
			rr = 2
		}
		cfg := Config{
			Patients: 1 + int(n%20), Seed: seed, StartYear: 1990 + int(start%40),
			Signals: []Signal{{Drug: "314076", Event: "41291007", RR: rr}},
		}
		cfg.EndYear = cfg.StartYear + int(span%15)
		if fhir {
			cfg.Format = FormatFHIR
		}
		out, res := generate(t, cfg)
		if res.Patients != cfg.Patients || res.Files[0].Rows == 0 {
			t.Fatalf("result %+v", res)
		}
		texts := map[string]string{}
		readLines(t, filepath.Join(out, NotesFile), func(line []byte) {
			var n Note
			if err := json.Unmarshal(line, &n); err != nil {
				t.Fatal(err)
			}
			texts[n.ID] = n.Text
		})
		readLines(t, filepath.Join(out, PHIFile), func(line []byte) {
			var np NotePHI
			if err := json.Unmarshal(line, &np); err != nil {
				t.Fatal(err)
			}
			for _, s := range np.Spans {
				if s.End > len(texts[np.ID]) || texts[np.ID][s.Start:s.End] != s.Text {
					t.Fatalf("note %s: span %d..%d does not hold %q", np.ID, s.Start, s.End, s.Text)
				}
			}
		})
	})
}
