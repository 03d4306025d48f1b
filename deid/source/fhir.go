package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/internal/idset"
)

// FHIR layouts.
const (
	LayoutBulk      = "bulk-ndjson" // Bulk Data export: NDJSON, one resource type per file
	LayoutBundles   = "bundles"     // one Bundle (transaction or collection) per JSON file
	LayoutResources = "resources"   // one resource per JSON file
)

// fhirTables maps the resource types read to their table.
var fhirTables = map[string]string{
	"Patient":                  Person,
	"Encounter":                Visit,
	"Condition":                Condition,
	"MedicationRequest":        Drug,
	"MedicationStatement":      Drug,
	"MedicationAdministration": Drug,
	"Immunization":             Drug,
	"Observation":              Measurement,
	"Procedure":                Procedure,
	"AdverseEvent":             AdverseEvent,
	"DocumentReference":        Note,
}

// fhirFilesLayout tells a directory of Bundles from one of single resources.
func fhirFilesLayout(dir string) (string, error) {
	files, err := jsonFiles(dir)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		rt, err := peekResourceType(f)
		if err != nil {
			return "", err
		}
		if rt == "Bundle" {
			return LayoutBundles, nil
		}
	}
	return LayoutResources, nil
}

func peekResourceType(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return "", &ParseError{File: path, Line: 1, Entry: -1, Err: detail(ErrSyntax, "not a JSON object")}
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return "", jsonErr(path, 0, -1, err)
		}
		if k == "resourceType" {
			var rt string
			if err := dec.Decode(&rt); err != nil {
				return "", jsonErr(path, 0, -1, err)
			}
			return rt, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", jsonErr(path, 0, -1, err)
		}
	}
	return "", &ParseError{File: path, Line: 1, Entry: -1, Field: "resourceType", Err: ErrMissingField}
}

func jsonFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".json") || n == "package.json" {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	return out, nil
}

type fhirExport struct {
	*export
	files []fhirFile

	patOnce sync.Once
	patRefs map[string]string // reference ("Patient/x", fullUrl) to patient id
	patErr  error
	medOnce sync.Once
	meds    map[string]code // Medication reference ("Medication/x", fullUrl) to its code
	medErr  error
}

// fhirFile is one input file; for bulk NDJSON, typ is the resource type its
// name declares ("" when the name declares none).
type fhirFile struct {
	path   string
	typ    string
	ndjson bool
}

func openFHIR(dir string) (Export, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ndjson, jsons []string
	for _, e := range ents {
		n := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(n, ".ndjson") && n != "log.ndjson":
			ndjson = append(ndjson, filepath.Join(dir, n))
		case strings.HasSuffix(n, ".json") && n != "package.json":
			jsons = append(jsons, filepath.Join(dir, n))
		}
	}
	f := &fhirExport{}
	var layout string
	present := map[string]bool{}
	if len(ndjson) > 0 {
		layout = LayoutBulk
		sort.Strings(ndjson)
		for _, p := range ndjson {
			typ, _, _ := strings.Cut(filepath.Base(p), ".")
			if _, known := fhirTables[typ]; !known && typ != "Medication" {
				// Not a resource type we read, unless the file mixes types.
				if isResourceTypeName(typ) {
					continue
				}
				typ = ""
			}
			f.files = append(f.files, fhirFile{path: p, typ: typ, ndjson: true})
			if typ == "" {
				for _, t := range fhirTables {
					present[t] = true
				}
			} else if t := fhirTables[typ]; t != "" {
				present[t] = true
			}
		}
	} else {
		sort.Strings(jsons)
		layout = LayoutResources
		for _, p := range jsons {
			rt, err := peekResourceType(p)
			if err != nil {
				return nil, err
			}
			if rt == "Bundle" {
				layout = LayoutBundles
				for _, t := range fhirTables {
					present[t] = true
				}
			} else if t := fhirTables[rt]; t != "" {
				present[t] = true
			} else if rt != "Medication" {
				continue
			}
			f.files = append(f.files, fhirFile{path: p, typ: rt})
		}
	}
	if len(f.files) == 0 {
		return nil, &ParseError{File: dir, Entry: -1, Err: detail(ErrUnknownFormat, "no FHIR resources")}
	}
	f.export = newExport(FormatFHIR, layout, dir)
	if !present[Person] {
		return nil, &ParseError{File: dir, Entry: -1, Field: "Patient", Err: detail(ErrMissingField, "no Patient resources in the export")}
	}
	for _, t := range Tables {
		if !present[t] {
			continue
		}
		switch t {
		case Note:
			f.add(Note, f.readNotes)
		default:
			f.add(t, func(ctx context.Context) (array.RecordReader, error) { return f.readTable(ctx, t) })
		}
	}
	if !present[Note] {
		addNotes(f.export, dir, f.patientIDs)
	}
	return f, nil
}

// isResourceTypeName: an upper-case initial and letters only, as FHIR names
// its resource types (Organization, Practitioner...).
func isResourceTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// fhirLoc says where a resource is: file, NDJSON line, Bundle entry.
type fhirLoc struct {
	path  string
	line  int
	entry int
}

func (l fhirLoc) err(field string, err error) error {
	return &ParseError{File: l.path, Line: l.line, Entry: l.entry, Field: field, Err: err}
}

// fhirIter walks the resources of a list of files, a chunk at a time.
type fhirIter struct {
	files []fhirFile
	want  func(typ string) bool

	cur     fhirFile
	blocks  *ndjsonBlocks
	entries []json.RawMessage
	urls    []string
	ei      int
}

// nextChunk appends the next resources to c: the lines of one block of an
// NDJSON file, or up to chunkResources resources of JSON files (single
// resources or Bundle entries). It reports false, with c empty, at the end.
// The resources c holds are its own: nothing reuses their bytes.
func (it *fhirIter) nextChunk(c *rawChunk) (ok bool, err error) {
	for {
		if it.blocks != nil {
			ok, err := it.blocks.next(c)
			if err != nil || !ok {
				it.blocks.close()
				it.blocks = nil
				if err != nil {
					return false, err
				}
				continue
			}
			if len(c.raws) > 0 {
				return true, nil
			}
			continue
		}
		if it.entries != nil {
			for it.ei < len(it.entries) && len(c.raws) < chunkResources {
				i := it.ei
				it.ei++
				c.raws = append(c.raws, it.entries[i])
				c.urls = append(c.urls, it.urls[i])
				c.locs = append(c.locs, fhirLoc{it.cur.path, 0, i})
			}
			if it.ei == len(it.entries) {
				it.entries, it.urls = nil, nil
			}
			if len(c.raws) >= chunkResources {
				return true, nil
			}
			continue
		}
		if len(it.files) == 0 {
			return len(c.raws) > 0, nil
		}
		if it.files[0].ndjson && len(c.raws) > 0 {
			return true, nil // an NDJSON file starts a chunk of its own
		}
		it.cur, it.files = it.files[0], it.files[1:]
		if it.cur.typ != "" && it.cur.typ != "Bundle" && !it.want(it.cur.typ) {
			continue
		}
		if it.cur.ndjson {
			b, err := openBlocks(it.cur.path)
			if err != nil {
				return false, err
			}
			it.blocks = b
			continue
		}
		data, err := os.ReadFile(it.cur.path)
		if err != nil {
			return false, err
		}
		if it.cur.typ != "Bundle" {
			c.raws = append(c.raws, data)
			c.urls = append(c.urls, "")
			c.locs = append(c.locs, fhirLoc{it.cur.path, 0, -1})
			if len(c.raws) >= chunkResources {
				return true, nil
			}
			continue
		}
		var b fhirResource
		if err := json.Unmarshal(data, &b); err != nil {
			return false, jsonErr(it.cur.path, 0, -1, err)
		}
		it.entries = make([]json.RawMessage, len(b.Entry))
		it.urls = make([]string, len(b.Entry))
		for i, e := range b.Entry {
			it.entries[i] = e.Resource
			it.urls[i] = e.FullURL
		}
		it.ei = 0
	}
}

// each calls fn for every resource in order, then reports the error that
// ended the input, if any; fn's error stops the walk.
func (it *fhirIter) each(fn func(raw []byte, url string, loc fhirLoc) error) error {
	defer it.close()
	for {
		var c rawChunk
		ok, err := it.nextChunk(&c)
		for i, raw := range c.raws {
			if err := fn(raw, c.urls[i], c.locs[i]); err != nil {
				return err
			}
		}
		if c.block != nil {
			putBlock(c.block)
		}
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
	}
}

func (it *fhirIter) close() error {
	if it.blocks != nil {
		err := it.blocks.close()
		it.blocks = nil
		return err
	}
	return nil
}

func (f *fhirExport) iter(types ...string) *fhirIter {
	return &fhirIter{files: slices.Clone(f.files), want: func(t string) bool { return slices.Contains(types, t) }}
}

// decode reads one resource; a resource whose type is not wanted comes
// back with ok false.
func decodeResource(raw []byte, loc fhirLoc, r *fhirResource) error {
	*r = fhirResource{}
	return decodeFresh(raw, loc, r)
}

// decodeFresh is decodeResource into a zero resource.
func decodeFresh(raw []byte, loc fhirLoc, r *fhirResource) error {
	if !fastDecode(raw, r) {
		// The standard decoder names the field and offset of the fault.
		*r = fhirResource{}
		if err := json.Unmarshal(raw, r); err != nil {
			return jsonErr(loc.path, loc.line, loc.entry, err)
		}
	}
	if r.ResourceType == "" {
		return loc.err("resourceType", ErrMissingField)
	}
	return nil
}

// patientIndex reads every Patient once: references to patient ids.
func (f *fhirExport) patientIndex() (map[string]string, error) {
	f.patOnce.Do(func() {
		refs := make(map[string]string)
		type head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		// Chunks are decoded in parallel; each hands over its (reference,
		// id) pairs, in input order, so the first bad resource is the one
		// a sequential read meets first.
		mapIDs := func(c *rawChunk) *mappedChunk {
			mc := &mappedChunk{}
			for i, raw := range c.raws {
				loc := c.locs[i]
				var h head
				if fastDecode(raw, &h) {
					// decoded
				} else if err := json.Unmarshal(raw, &h); err != nil {
					mc.err = jsonErr(loc.path, loc.line, loc.entry, err)
					return mc
				}
				if h.ResourceType != "Patient" {
					continue
				}
				if h.ID == "" {
					mc.err = loc.err("id", ErrMissingField)
					return mc
				}
				id := keep(h.ID)
				mc.ids = append(mc.ids, "Patient/"+id, id)
				if url := c.urls[i]; url != "" {
					mc.ids = append(mc.ids, keep(url), id)
				}
			}
			return mc
		}
		r := newFHIRReader(context.Background(), nil, f.iter("Patient"), mapIDs, func(pairs []string) {
			for i := 0; i+1 < len(pairs); i += 2 {
				refs[pairs[i]] = pairs[i+1]
			}
		})
		for r.Next() {
		}
		f.patErr = r.Err()
		r.Release()
		if f.patErr != nil {
			return
		}
		f.patRefs = refs
	})
	return f.patRefs, f.patErr
}

func (f *fhirExport) patientIDs() (*idset.Set, error) {
	refs, err := f.patientIndex()
	if err != nil {
		return nil, err
	}
	ids := idset.New()
	for _, id := range refs {
		ids.Add(id)
	}
	return ids, nil
}

// resolvePatient finds the patient a reference names.
func resolvePatient(refs map[string]string, ref string) (string, bool) {
	if id, ok := refs[ref]; ok {
		return id, true
	}
	if i := strings.LastIndex(ref, "Patient/"); i > 0 {
		id, ok := refs[ref[i:]]
		return id, ok
	}
	return "", false
}

// medIndex reads every Medication once: references to codes.
func (f *fhirExport) medIndex() (map[string]code, error) {
	f.medOnce.Do(func() {
		meds := make(map[string]code)
		var r fhirResource
		f.medErr = f.iter("Medication").each(func(raw []byte, url string, loc fhirLoc) error {
			if !bytes.Contains(raw, []byte(`"Medication"`)) {
				return nil
			}
			if err := decodeResource(raw, loc, &r); err != nil {
				return err
			}
			if r.ResourceType != "Medication" {
				return nil
			}
			c := pickCoding(r.Code)
			c = code{keep(c.vocab), keep(c.code), keep(c.name)}
			meds["Medication/"+r.ID] = c
			if url != "" {
				meds[keep(url)] = c
			}
			return nil
		})
		if f.medErr != nil {
			return
		}
		f.meds = meds
	})
	return f.meds, f.medErr
}

// readTable streams the resources of one table.
func (f *fhirExport) readTable(ctx context.Context, table string) (array.RecordReader, error) {
	return f.readTableSeen(ctx, table, nil)
}

// readTableSeen is readTable, adding the id of every resource read to seen
// when seen is not nil.
func (f *fhirExport) readTableSeen(ctx context.Context, table string, seen map[string]struct{}) (array.RecordReader, error) {
	refs, err := f.patientIndex()
	if err != nil {
		return nil, err
	}
	var meds map[string]code
	if table == Drug || table == AdverseEvent {
		if meds, err = f.medIndex(); err != nil {
			return nil, err
		}
	}
	var types []string
	for rt, t := range fhirTables {
		if t == table {
			types = append(types, rt)
		}
	}
	schema := Schema(table)
	mapChunk := func(c *rawChunk) *mappedChunk {
		raws, locs := c.raws, c.locs
		mc := &mappedChunk{}
		m := &fhirMapper{un: &f.un, refs: refs, meds: meds}
		w := newRowWriter(schema)
		defer w.release()
		reserveRows(w, min(len(raws), BatchRows))
		var r fhirResource
		var tb typedBufs
		for i, raw := range raws {
			if err := decodeTable(raw, locs[i], &r, &tb); err != nil {
				mc.err = err
				return mc
			}
			if fhirTables[r.ResourceType] != table {
				continue
			}
			if seen != nil && r.ID != "" {
				mc.ids = append(mc.ids, keep(r.ID))
			}
			if err := m.mapResource(&r, locs[i], w); err != nil {
				mc.err = err
				return mc
			}
			if w.rows >= BatchRows {
				mc.recs = append(mc.recs, w.bld.NewRecordBatch())
				w.rows = 0
			}
		}
		if w.rows > 0 {
			mc.recs = append(mc.recs, w.bld.NewRecordBatch())
		}
		return mc
	}
	var onIDs func([]string)
	if seen != nil {
		onIDs = func(ids []string) {
			for _, id := range ids {
				seen[id] = struct{}{}
			}
		}
	}
	return newFHIRReader(ctx, schema, f.iter(types...), mapChunk, onIDs), nil
}

// reserveRows sizes a fresh writer's buffers for n rows of short strings,
// so that appending does not grow them step by step.
func reserveRows(w *rowWriter, n int) {
	w.bld.Reserve(n)
	for _, b := range w.strs {
		if b != nil {
			b.ReserveData(n * 24)
		}
	}
}

// readNotes streams DocumentReference notes, then notes.jsonl if present.
func (f *fhirExport) readNotes(ctx context.Context) (array.RecordReader, error) {
	srcs := []string{"DocumentReference"}
	if p := filepath.Join(f.dir, NotesFile); exists(p) {
		srcs = append(srcs, p)
	}
	seen := make(map[string]struct{}) // DocumentReference ids, filled by the first reader
	return concatReaders(ctx, Schema(Note), srcs, func(ctx context.Context, src string) (array.RecordReader, error) {
		if src == "DocumentReference" {
			return f.readTableSeen(ctx, Note, seen)
		}
		return readNotes(ctx, src, f.patientIDs, seen, &f.un)
	})
}

// fhirMapper maps one resource to zero or more rows.
type fhirMapper struct {
	un   *unmapped
	refs map[string]string
	meds map[string]code
}

func (m *fhirMapper) patient(r *fhirResource, loc fhirLoc, field string, ref fhirRef) (string, error) {
	if ref.Reference == "" {
		return "", loc.err(field, ErrMissingField)
	}
	id, ok := resolvePatient(m.refs, ref.Reference)
	if !ok {
		return "", loc.err(field, detail(ErrUnknownPatient, "%s %q", r.ResourceType, clip(ref.Reference)))
	}
	return id, nil
}

// dates parses named date values, the first error naming its field.
func dates(loc fhirLoc, kv ...string) ([]dateCell, error) {
	out := make([]dateCell, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		d, ok, err := parseDate(kv[i+1])
		if err != nil {
			return nil, loc.err(kv[i], err)
		}
		out[i/2] = dateCell{d, ok}
	}
	return out, nil
}

func (m *fhirMapper) mapResource(r *fhirResource, loc fhirLoc, w *rowWriter) error {
	switch r.ResourceType {
	case "Patient":
		return m.person(r, loc, w)
	case "Encounter":
		pid, err := m.patient(r, loc, "subject", r.Subject)
		if err != nil {
			return err
		}
		if r.ID == "" {
			return loc.err("id", ErrMissingField)
		}
		d, err := dates(loc, "period.start", r.Period.Start, "period.end", r.Period.End)
		if err != nil {
			return err
		}
		w.str(0, r.ID)
		w.str(1, pid)
		w.str(2, encounterClass(r.Class))
		w.date(3, d[0].v, d[0].ok)
		w.date(4, d[1].v, d[1].ok)
		w.end()
	case "Condition":
		pid, err := m.patient(r, loc, "subject", r.Subject)
		if err != nil {
			return err
		}
		start, sf := r.OnsetDateTime, "onsetDateTime"
		if start == "" && r.OnsetPeriod != nil {
			start, sf = r.OnsetPeriod.Start, "onsetPeriod.start"
		}
		if start == "" {
			start, sf = r.RecordedDate, "recordedDate"
		}
		end, ef := r.AbatementDateTime, "abatementDateTime"
		if end == "" && r.AbatementPeriod != nil {
			end, ef = r.AbatementPeriod.End, "abatementPeriod.end"
		}
		d, err := dates(loc, sf, start, ef, end)
		if err != nil {
			return err
		}
		c := pickCoding(r.Code)
		m.coded(w, pid, refID(r.Encounter.Reference), c)
		w.date(5, d[0].v, d[0].ok)
		w.date(6, d[1].v, d[1].ok)
		w.end()
	case "Procedure":
		pid, err := m.patient(r, loc, "subject", r.Subject)
		if err != nil {
			return err
		}
		when, wf := r.PerformedDateTime, "performedDateTime"
		if when == "" && r.PerformedPeriod != nil {
			when, wf = r.PerformedPeriod.Start, "performedPeriod.start"
		}
		d, err := dates(loc, wf, when)
		if err != nil {
			return err
		}
		m.coded(w, pid, refID(r.Encounter.Reference), pickCoding(r.Code))
		w.date(5, d[0].v, d[0].ok)
		w.end()
	case "Immunization":
		pid, err := m.patient(r, loc, "patient", r.Patient)
		if err != nil {
			return err
		}
		d, err := dates(loc, "occurrenceDateTime", r.OccurrenceDateTime)
		if err != nil {
			return err
		}
		m.coded(w, pid, refID(r.Encounter.Reference), pickCoding(r.VaccineCode))
		w.date(5, d[0].v, d[0].ok)
		w.date(6, d[0].v, d[0].ok)
		w.end()
	case "MedicationRequest", "MedicationStatement", "MedicationAdministration":
		return m.medication(r, loc, w)
	case "Observation":
		return m.observation(r, loc, w)
	case "AdverseEvent":
		return m.adverseEvent(r, loc, w)
	case "DocumentReference":
		return m.document(r, loc, w)
	}
	return nil
}

// coded writes the first five columns shared by the coded tables.
func (m *fhirMapper) coded(w *rowWriter, pid, visit string, c code) {
	w.str(0, pid)
	w.str(1, visit)
	w.str(2, c.vocab)
	w.str(3, c.code)
	w.str(4, c.name)
}

// contextEncounter reads the encounter of a MedicationStatement or
// MedicationAdministration (context: Reference) or a DocumentReference
// (context.encounter[0]).
func contextEncounter(r *fhirResource, loc fhirLoc) (string, fhirPeriod, error) {
	if r.Encounter.Reference != "" {
		return refID(r.Encounter.Reference), fhirPeriod{}, nil
	}
	if len(r.Context) == 0 {
		return "", fhirPeriod{}, nil
	}
	var c struct {
		Reference string     `json:"reference"`
		Encounter []fhirRef  `json:"encounter"`
		Period    fhirPeriod `json:"period"`
	}
	if err := unmarshal(r.Context, &c); err != nil {
		return "", fhirPeriod{}, jsonErr(loc.path, loc.line, loc.entry, err)
	}
	if c.Reference != "" {
		return refID(c.Reference), c.Period, nil
	}
	if len(c.Encounter) > 0 {
		return refID(c.Encounter[0].Reference), c.Period, nil
	}
	return "", c.Period, nil
}

// medicationCode resolves medication[x]: a CodeableConcept, a contained
// Medication ("#id"), or a Medication resource of the export.
func (m *fhirMapper) medicationCode(r *fhirResource, loc fhirLoc) (code, error) {
	if r.MedicationCodeableConcept != nil {
		return pickCoding(*r.MedicationCodeableConcept), nil
	}
	if r.MedicationReference == nil {
		return code{}, loc.err("medication[x]", ErrMissingField)
	}
	return m.medRef(r, loc, *r.MedicationReference)
}

func (m *fhirMapper) medRef(r *fhirResource, loc fhirLoc, ref fhirRef) (code, error) {
	if id, ok := strings.CutPrefix(ref.Reference, "#"); ok {
		for _, raw := range r.Contained {
			var c fhirResource
			if err := unmarshal(raw, &c); err != nil {
				return code{}, jsonErr(loc.path, loc.line, loc.entry, err)
			}
			if c.ID == id {
				return pickCoding(c.Code), nil
			}
		}
	}
	if c, ok := m.meds[ref.Reference]; ok {
		return c, nil
	}
	m.un.add("medication reference not resolved (name only)")
	return code{name: ref.Display}, nil
}

func (m *fhirMapper) medication(r *fhirResource, loc fhirLoc, w *rowWriter) error {
	pid, err := m.patient(r, loc, "subject", r.Subject)
	if err != nil {
		return err
	}
	c, err := m.medicationCode(r, loc)
	if err != nil {
		return err
	}
	visit, _, err := contextEncounter(r, loc)
	if err != nil {
		return err
	}
	var kv []string
	switch {
	case r.ResourceType == "MedicationRequest":
		end := ""
		if r.DispenseRequest != nil {
			end = r.DispenseRequest.ValidityPeriod.End
		}
		kv = []string{"authoredOn", r.AuthoredOn, "dispenseRequest.validityPeriod.end", end}
	case r.EffectivePeriod != nil:
		kv = []string{"effectivePeriod.start", r.EffectivePeriod.Start, "effectivePeriod.end", r.EffectivePeriod.End}
	default:
		kv = []string{"effectiveDateTime", r.EffectiveDateTime, "effectiveDateTime", r.EffectiveDateTime}
	}
	d, err := dates(loc, kv...)
	if err != nil {
		return err
	}
	m.coded(w, pid, visit, c)
	w.date(5, d[0].v, d[0].ok)
	w.date(6, d[1].v, d[1].ok)
	w.end()
	return nil
}

func (m *fhirMapper) observation(r *fhirResource, loc fhirLoc, w *rowWriter) error {
	pid, err := m.patient(r, loc, "subject", r.Subject)
	if err != nil {
		return err
	}
	when, wf := r.EffectiveDateTime, "effectiveDateTime"
	if when == "" && r.EffectivePeriod != nil {
		when, wf = r.EffectivePeriod.Start, "effectivePeriod.start"
	}
	if when == "" {
		when, wf = r.Issued, "issued"
	}
	d, err := dates(loc, wf, when)
	if err != nil {
		return err
	}
	visit := refID(r.Encounter.Reference)
	row := func(c code, q *fhirQuantity) {
		m.coded(w, pid, visit, c)
		w.date(5, d[0].v, d[0].ok)
		w.num(6, *q.Value, true)
		w.str(7, firstOf(q.Code, q.Unit))
		w.end()
	}
	n := 0
	if q := r.ValueQuantity; q != nil && q.Value != nil {
		row(pickCoding(r.Code), q)
		n++
	}
	for _, comp := range r.Component {
		if q := comp.ValueQuantity; q != nil && q.Value != nil {
			row(pickCoding(comp.Code), q)
			n++
		}
	}
	if n == 0 {
		m.un.add("observation without valueQuantity")
	}
	return nil
}

// seriousness reads AdverseEvent.seriousness: serious or non-serious.
func seriousness(c fhirConcept) (serious, ok bool) {
	for _, cd := range c.Coding {
		switch strings.ToLower(cd.Code) {
		case "serious":
			return true, true
		case "non-serious":
			return false, true
		}
	}
	return false, false
}

func (m *fhirMapper) adverseEvent(r *fhirResource, loc fhirLoc, w *rowWriter) error {
	pid, err := m.patient(r, loc, "subject", r.Subject)
	if err != nil {
		return err
	}
	d, err := dates(loc, "date", r.Date)
	if err != nil {
		return err
	}
	ev := pickCoding(r.Event)
	ser, sok := seriousness(r.Seriousness)
	outcome := ""
	if len(r.Outcome.Coding) > 0 {
		outcome = r.Outcome.Coding[0].Code
	}
	var drugs []code
	for _, s := range r.SuspectEntity {
		c, err := m.medRef(r, loc, s.Instance)
		if err != nil {
			return err
		}
		drugs = append(drugs, c)
	}
	if len(drugs) == 0 {
		drugs = []code{{}}
	}
	for _, c := range drugs {
		w.str(0, pid)
		w.str(1, c.vocab)
		w.str(2, c.code)
		w.str(3, c.name)
		w.str(4, ev.vocab)
		w.str(5, ev.code)
		w.str(6, ev.name)
		w.date(7, d[0].v, d[0].ok)
		w.boolean(8, ser, sok)
		w.str(9, outcome)
		w.str(10, AESourceReport)
		w.end()
	}
	return nil
}

func (m *fhirMapper) document(r *fhirResource, loc fhirLoc, w *rowWriter) error {
	pid, err := m.patient(r, loc, "subject", r.Subject)
	if err != nil {
		return err
	}
	visit, period, err := contextEncounter(r, loc)
	if err != nil {
		return err
	}
	when, wf := r.Date, "date"
	if when == "" {
		when, wf = period.Start, "context.period.start"
	}
	d, err := dates(loc, wf, when)
	if err != nil {
		return err
	}
	var text []byte
	for i, c := range r.Content {
		a := c.Attachment
		if a.Data == "" || (a.ContentType != "" && !strings.HasPrefix(a.ContentType, "text/")) {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil {
			return loc.err("content["+strconv.Itoa(i)+"].attachment.data", detail(ErrBadValue, "not base64"))
		}
		if len(text) > 0 {
			text = append(text, '\n')
		}
		text = append(text, b...)
	}
	if len(text) == 0 {
		m.un.add("document without inline text")
		return nil
	}
	var typ fhirConcept
	if len(r.Type) > 0 && r.Type[0] == '{' {
		if err := unmarshal(r.Type, &typ); err != nil {
			return jsonErr(loc.path, loc.line, loc.entry, err)
		}
	}
	w.str(0, r.ID)
	w.str(1, pid)
	w.str(2, visit)
	w.date(3, d[0].v, d[0].ok)
	w.str(4, pickCoding(typ).name)
	w.str(5, string(text))
	w.end()
	return nil
}

func (m *fhirMapper) person(r *fhirResource, loc fhirLoc, w *rowWriter) error {
	if r.ID == "" {
		return loc.err("id", ErrMissingField)
	}
	d, err := dates(loc, "birthDate", r.BirthDate, "deceasedDateTime", r.DeceasedDateTime)
	if err != nil {
		return err
	}
	var ssn, mrn, dl, ppn string
	if len(r.Identifier) > 0 && r.Identifier[0] == '[' {
		var ids []fhirIdentifier
		if err := unmarshal(r.Identifier, &ids); err != nil {
			return jsonErr(loc.path, loc.line, loc.entry, err)
		}
		for _, id := range ids {
			t := ""
			if len(id.Type.Coding) > 0 {
				t = id.Type.Coding[0].Code
			}
			switch {
			case t == "SS" || id.System == "http://hl7.org/fhir/sid/us-ssn":
				ssn = firstOf(ssn, id.Value)
			case t == "MR":
				mrn = firstOf(mrn, id.Value)
			case t == "DL":
				dl = firstOf(dl, id.Value)
			case t == "PPN":
				ppn = firstOf(ppn, id.Value)
			}
		}
	}
	var given, family, maiden, prefix string
	official := -1
	for i, n := range r.Name {
		if n.Use == "maiden" {
			maiden = firstOf(maiden, n.Family)
			continue
		}
		if official < 0 || n.Use == "official" && r.Name[official].Use != "official" {
			official = i
		}
	}
	if official >= 0 {
		n := r.Name[official]
		given, family, prefix = strings.Join(n.Given, " "), n.Family, strings.Join(n.Prefix, " ")
		if given == "" && family == "" {
			given = n.Text
		}
	}
	var phone, email string
	for _, t := range r.Telecom {
		switch t.System {
		case "phone":
			phone = firstOf(phone, t.Value)
		case "email":
			email = firstOf(email, t.Value)
		}
	}
	var race, eth, bplace string
	for _, e := range r.Extension {
		switch {
		case strings.HasSuffix(e.URL, "us-core-race"), strings.HasSuffix(e.URL, "us-core-ethnicity"):
			v := ""
			for _, sub := range e.Extension {
				if sub.URL == "ombCategory" && sub.ValueCoding != nil {
					v = firstOf(v, sub.ValueCoding.Code)
				}
			}
			if strings.HasSuffix(e.URL, "race") {
				race = normRace(v)
			} else {
				eth = normEthnicity(v)
			}
		case strings.HasSuffix(e.URL, "patient-birthPlace") && e.ValueAddress != nil:
			a := e.ValueAddress
			bplace = birthplace(a.City, a.State, a.Country)
		}
	}
	var line, city, county, state, zip string
	var lat, lon float64
	var latok, lonok bool
	if len(r.Address) > 0 {
		a := r.Address[0]
		line, city, county, state, zip = strings.Join(a.Line, ", "), a.City, a.District, normState(a.State), a.PostalCode
		for _, e := range a.Extension {
			if !strings.HasSuffix(e.URL, "geolocation") {
				continue
			}
			for _, sub := range e.Extension {
				if sub.ValueDecimal == nil {
					continue
				}
				switch sub.URL {
				case "latitude":
					lat, latok = *sub.ValueDecimal, true
				case "longitude":
					lon, lonok = *sub.ValueDecimal, true
				}
			}
		}
	}
	w.str(0, r.ID)
	w.str(1, given)
	w.str(2, family)
	w.str(3, maiden)
	w.str(4, prefix)
	w.date(5, d[0].v, d[0].ok)
	w.date(6, d[1].v, d[1].ok)
	w.str(7, normGender(r.Gender))
	w.str(8, race)
	w.str(9, eth)
	w.str(10, ssn)
	w.str(11, mrn)
	w.str(12, dl)
	w.str(13, ppn)
	w.str(14, phone)
	w.str(15, email)
	w.str(16, line)
	w.str(17, city)
	w.str(18, county)
	w.str(19, state)
	w.str(20, zip)
	w.num(21, lat, latok)
	w.num(22, lon, lonok)
	w.str(23, bplace)
	w.null(24) // age_years: the birth date is known
	w.end()
	return nil
}
