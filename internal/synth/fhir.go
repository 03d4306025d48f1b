package synth

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// FHIR R4 Bulk Data output: one NDJSON file per resource type, shaped like
// Synthea's FHIR exporter (US Core profiles, SNOMED CT, RxNorm, CVX, LOINC),
// with plain "Type/id" references that all resolve within the export.

// FHIRFiles lists the NDJSON files Generate writes for fhir-ndjson.
var FHIRFiles = []string{
	"Organization.000.ndjson", "Practitioner.000.ndjson", "Patient.000.ndjson", "Encounter.000.ndjson",
	"Condition.000.ndjson", "MedicationRequest.000.ndjson", "Immunization.000.ndjson",
	"Observation.000.ndjson", "Procedure.000.ndjson", "AdverseEvent.000.ndjson", "DocumentReference.000.ndjson",
}

// noteLOINC codes the note types as LOINC document types.
var noteLOINC = map[string]string{
	"Progress note":             "11506-3",
	"Discharge summary":         "18842-5",
	"Emergency department note": "34111-5",
	"History and physical note": "34117-2",
	"Death note":                "11506-3",
}

const (
	sysSNOMED   = "http://snomed.info/sct"
	sysRxNorm   = "http://www.nlm.nih.gov/research/umls/rxnorm"
	sysLOINC    = "http://loinc.org"
	sysCVX      = "http://hl7.org/fhir/sid/cvx"
	sysUCUM     = "http://unitsofmeasure.org"
	sysV2_0203  = "http://terminology.hl7.org/CodeSystem/v2-0203"
	sysSynthea  = "https://github.com/synthetichealth/synthea"
	sysNPI      = "http://hl7.org/fhir/sid/us-npi"
	sysSSN      = "http://hl7.org/fhir/sid/us-ssn"
	sysOMBRace  = "urn:oid:2.16.840.1.113883.6.238"
	usCore      = "http://hl7.org/fhir/us/core/StructureDefinition/"
	sysDL       = "urn:oid:2.16.840.1.113883.4.3.25"
	sysPassport = "http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber"
)

type fhirSink struct {
	g                                              *generator
	mrnSystem                                      string
	org, prac, pat, enc, cond, med, imm, obs, proc *outFile
	ae, doc                                        *outFile
	all                                            []*outFile
}

func newFHIRSink(dir string, g *generator) (*fhirSink, error) {
	s := &fhirSink{g: g}
	slug := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 32
		}
		return '-'
	}, g.cfg.Institution)
	if slug == "" {
		slug = "general-hospital"
	}
	s.mrnSystem = "urn:cohortnet:synth:" + slug + ":mrn"
	ptrs := []**outFile{&s.org, &s.prac, &s.pat, &s.enc, &s.cond, &s.med, &s.imm, &s.obs, &s.proc, &s.ae, &s.doc}
	for i, name := range FHIRFiles {
		o, err := createOut(dir, name)
		if err != nil {
			closeAll(s.all)
			return nil, err
		}
		*ptrs[i] = o
		s.all = append(s.all, o)
	}
	if dir != "" {
		s.writeDirectory()
	}
	return s, nil
}

func (s *fhirSink) outputs() []*outFile { return s.all }
func (s *fhirSink) abort()              { closeAll(s.all) }

// writeDirectory writes the institution's organizations and clinicians once.
func (s *fhirSink) writeDirectory() {
	g := s.g
	for i, id := range g.orgs {
		b := append(s.org.buf, `{"resourceType":"Organization","id":"`...)
		b = append(b, id[:]...)
		b = append(b, `","meta":{"profile":["`+usCore+`us-core-organization"]},"identifier":[{"system":"`+sysSynthea+`","value":"`...)
		b = append(b, id[:]...)
		b = append(b, `"}],"active":true,"type":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/organization-type","code":"prov","display":"Healthcare Provider"}],"text":"Healthcare Provider"}],"name":`...)
		b = appendJSONString(b, g.orgNames[i])
		b = append(b, '}')
		s.org.buf = b
		s.org.endRow()
	}
	for i, id := range g.providers {
		first, last, _ := strings.Cut(g.provNames[i], " ")
		b := append(s.prac.buf, `{"resourceType":"Practitioner","id":"`...)
		b = append(b, id[:]...)
		b = append(b, `","meta":{"profile":["`+usCore+`us-core-practitioner"]},"identifier":[{"system":"`+sysNPI+`","value":"`...)
		b = strconv.AppendInt(b, 9999900000+int64(i)*7+int64(g.inst%7), 10)
		b = append(b, `"}],"active":true,"name":[{"family":`...)
		b = appendJSONString(b, last)
		b = append(b, `,"given":[`...)
		b = appendJSONString(b, first)
		b = append(b, `],"prefix":["Dr."]}]}`...)
		s.prac.buf = b
		s.prac.endRow()
	}
}

// resourceID derives a stable id for the n-th resource of a kind of a patient.
func resourceID(p *patient, kind byte, n int) uuid {
	h := splitmix(uint64(p.index)<<8 ^ uint64(kind) ^ splitmix(uint64(n)+0x7f4a7c15))
	h ^= uint64(p.id[0])<<56 | uint64(p.id[1])<<48 | uint64(p.id[2])<<40 | uint64(p.id[3])<<32 | uint64(p.id[4])<<24 | uint64(p.id[5])<<16 | uint64(p.id[6])<<8 | uint64(p.id[7])
	return makeUUID(splitmix(h), splitmix(h^0xc0ffee))
}

func appendCoding(b []byte, system, code, display string) []byte {
	b = append(b, `{"system":"`...)
	b = append(b, system...)
	b = append(b, `","code":`...)
	b = appendJSONString(b, code)
	if display != "" {
		b = append(b, `,"display":`...)
		b = appendJSONString(b, display)
	}
	return append(b, '}')
}

func appendConcept(b []byte, system string, c concept) []byte {
	b = append(b, `{"coding":[`...)
	b = appendCoding(b, system, c.code, c.name)
	b = append(b, `],"text":`...)
	b = appendJSONString(b, c.name)
	return append(b, '}')
}

func appendRef(b []byte, key, typ string, id []byte) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":{"reference":"`...)
	b = append(b, typ...)
	b = append(b, '/')
	b = append(b, id...)
	return append(b, `"}`...)
}

func appendTimeString(b []byte, t int64) []byte {
	b = append(b, '"')
	b = appendTime(b, t)
	return append(b, '"')
}

func appendDateString(b []byte, d int32) []byte {
	b = append(b, '"')
	b = appendDate(b, d)
	return append(b, '"')
}

var maritalNames = map[string]string{"M": "Married", "S": "Never Married", "D": "Divorced", "W": "Widowed"}

func fhirClass(class string) string {
	switch class {
	case classEmergency:
		return "EMER"
	case classInpatient:
		return "IMP"
	default:
		return "AMB"
	}
}

func (s *fhirSink) write(p *patient) error {
	g := s.g
	pid := p.id[:]

	// Patient
	o := s.pat
	b := append(o.buf, `{"resourceType":"Patient","id":"`...)
	b = append(b, pid...)
	b = append(b, `","meta":{"profile":["`+usCore+`us-core-patient"]},"extension":[{"url":"`+usCore+`us-core-race","extension":[{"url":"ombCategory","valueCoding":`...)
	rc := raceCodes[p.race]
	b = appendCoding(b, sysOMBRace, rc[0], rc[1])
	b = append(b, `},{"url":"text","valueString":`...)
	b = appendJSONString(b, rc[1])
	b = append(b, `}]},{"url":"`+usCore+`us-core-ethnicity","extension":[{"url":"ombCategory","valueCoding":`...)
	eth := [2]string{"2186-5", "Not Hispanic or Latino"}
	if p.ethnicity == "hispanic" {
		eth = [2]string{"2135-2", "Hispanic or Latino"}
	}
	b = appendCoding(b, sysOMBRace, eth[0], eth[1])
	b = append(b, `},{"url":"text","valueString":`...)
	b = appendJSONString(b, eth[1])
	b = append(b, `}]},{"url":"`+usCore+`us-core-birthsex","valueCode":"`...)
	b = append(b, p.gender)
	b = append(b, `"},{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":`...)
	bp := strings.Split(p.birthplace, ", ")
	b = append(b, `{"city":`...)
	b = appendJSONString(b, bp[0])
	if len(bp) == 3 {
		b = append(b, `,"state":`...)
		b = appendJSONString(b, bp[1])
		b = append(b, `,"country":`...)
		b = appendJSONString(b, bp[2])
	}
	b = append(b, `}}],"identifier":[{"system":"`+sysSynthea+`","value":"`...)
	b = append(b, pid...)
	b = append(b, `"},{"type":{"coding":[{"system":"`+sysV2_0203+`","code":"MR","display":"Medical Record Number"}],"text":"Medical Record Number"},"system":"`...)
	b = append(b, s.mrnSystem...)
	b = append(b, `","value":"`...)
	b = append(b, p.mrn...)
	b = append(b, `"},{"type":{"coding":[{"system":"`+sysV2_0203+`","code":"SS","display":"Social Security Number"}],"text":"Social Security Number"},"system":"`+sysSSN+`","value":"`...)
	b = append(b, p.ssn...)
	b = append(b, `"}`...)
	if p.drivers != "" {
		b = append(b, `,{"type":{"coding":[{"system":"`+sysV2_0203+`","code":"DL","display":"Driver's license number"}],"text":"Driver's license number"},"system":"`+sysDL+`","value":"`...)
		b = append(b, p.drivers...)
		b = append(b, `"}`...)
	}
	if p.passport != "" {
		b = append(b, `,{"type":{"coding":[{"system":"`+sysV2_0203+`","code":"PPN","display":"Passport Number"}],"text":"Passport Number"},"system":"`+sysPassport+`","value":"`...)
		b = append(b, p.passport...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"name":[{"use":"official","family":`...)
	b = appendJSONString(b, p.last)
	b = append(b, `,"given":[`...)
	b = appendJSONString(b, p.first)
	b = append(b, ']')
	if p.prefix != "" {
		b = append(b, `,"prefix":[`...)
		b = appendJSONString(b, p.prefix)
		b = append(b, ']')
	}
	if p.suffix != "" {
		b = append(b, `,"suffix":[`...)
		b = appendJSONString(b, p.suffix)
		b = append(b, ']')
	}
	b = append(b, '}')
	if p.maiden != "" {
		b = append(b, `,{"use":"maiden","family":`...)
		b = appendJSONString(b, p.maiden)
		b = append(b, `,"given":[`...)
		b = appendJSONString(b, p.first)
		b = append(b, "]}"...)
	}
	b = append(b, `],"telecom":[{"system":"phone","value":"`...)
	b = append(b, p.phone...)
	b = append(b, `","use":"home"},{"system":"email","value":`...)
	b = appendJSONString(b, p.email)
	b = append(b, `}],"gender":"`...)
	if p.gender == 'F' {
		b = append(b, "female"...)
	} else {
		b = append(b, "male"...)
	}
	b = append(b, `","birthDate":`...)
	b = appendDateString(b, p.birth)
	if p.death >= 0 {
		b = append(b, `,"deceasedDateTime":`...)
		b = appendDateString(b, p.death)
	}
	b = append(b, `,"address":[{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/geolocation","extension":[{"url":"latitude","valueDecimal":`...)
	b = strconv.AppendFloat(b, p.lat, 'f', -1, 64)
	b = append(b, `},{"url":"longitude","valueDecimal":`...)
	b = strconv.AppendFloat(b, p.lon, 'f', -1, 64)
	b = append(b, `}]}],"line":[`...)
	b = appendJSONString(b, p.addressLine())
	b = append(b, `],"city":`...)
	b = appendJSONString(b, p.home.city)
	b = append(b, `,"district":`...)
	b = appendJSONString(b, p.home.county)
	b = append(b, `,"state":"`...)
	b = append(b, p.home.abbr...)
	b = append(b, '"')
	if p.zip != "" {
		b = append(b, `,"postalCode":"`...)
		b = append(b, p.zip...)
		b = append(b, '"')
	}
	b = append(b, `,"country":"US"}]`...)
	if p.marital != "" {
		b = append(b, `,"maritalStatus":{"coding":[`...)
		b = appendCoding(b, "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", p.marital, maritalNames[p.marital])
		b = append(b, `],"text":"`...)
		b = append(b, maritalNames[p.marital]...)
		b = append(b, `"}`...)
	}
	b = append(b, `,"multipleBirthBoolean":false,"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"en-US","display":"English (United States)"}],"text":"English (United States)"}}]}`...)
	o.buf = b
	o.endRow()

	// Encounter
	o = s.enc
	for i := range p.encs {
		e := &p.encs[i]
		b := append(o.buf, `{"resourceType":"Encounter","id":"`...)
		b = append(b, e.id[:]...)
		b = append(b, `","meta":{"profile":["`+usCore+`us-core-encounter"]},"identifier":[{"use":"official","system":"`+sysSynthea+`","value":"`...)
		b = append(b, e.id[:]...)
		b = append(b, `"}],"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"`...)
		b = append(b, fhirClass(e.class)...)
		b = append(b, `"},"type":[`...)
		b = appendConcept(b, sysSNOMED, e.typ)
		b = append(b, ']')
		b = appendRef(b, "subject", "Patient", pid)
		b = append(b, `,"participant":[{"type":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"PPRF","display":"primary performer"}],"text":"primary performer"}],"individual":{"reference":"Practitioner/`...)
		b = append(b, g.providers[e.provider][:]...)
		b = append(b, `","display":`...)
		b = appendJSONString(b, "Dr. "+g.provNames[e.provider])
		b = append(b, `}}],"period":{"start":`...)
		b = appendTimeString(b, e.start)
		b = append(b, `,"end":`...)
		b = appendTimeString(b, e.stop)
		b = append(b, '}')
		if e.reason.code != "" {
			b = append(b, `,"reasonCode":[`...)
			b = appendConcept(b, sysSNOMED, e.reason)
			b = append(b, ']')
		}
		b = appendRef(b, "serviceProvider", "Organization", g.orgs[g.provOrg[e.provider]][:])
		b = append(b, '}')
		o.buf = b
		o.endRow()
	}

	// Condition
	o = s.cond
	for i := range p.conds {
		c := &p.conds[i]
		id := resourceID(p, 'C', i)
		b := append(o.buf, `{"resourceType":"Condition","id":"`...)
		b = append(b, id[:]...)
		b = append(b, `","meta":{"profile":["`+usCore+`us-core-condition-encounter-diagnosis"]},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"`...)
		if c.stop >= c.start {
			b = append(b, "resolved"...)
		} else {
			b = append(b, "active"...)
		}
		b = append(b, `"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis","display":"Encounter Diagnosis"}]}],"code":`...)
		b = appendConcept(b, sysSNOMED, c.concept)
		b = appendRef(b, "subject", "Patient", pid)
		b = appendRef(b, "encounter", "Encounter", p.encs[c.enc].id[:])
		b = append(b, `,"onsetDateTime":`...)
		b = appendTimeString(b, p.encs[c.enc].start)
		if c.stop >= c.start {
			b = append(b, `,"abatementDateTime":`...)
			b = appendDateString(b, c.stop)
		}
		b = append(b, `,"recordedDate":`...)
		b = appendTimeString(b, p.encs[c.enc].start)
		b = append(b, '}')
		o.buf = b
		o.endRow()
	}

	// MedicationRequest
	o = s.med
	for i := range p.meds {
		m := &p.meds[i]
		id := resourceID(p, 'M', i)
		e := &p.encs[m.enc]
		b := append(o.buf, `{"resourceType":"MedicationRequest","id":"`...)
		b = append(b, id[:]...)
		b = append(b, `","meta":{"profile":["`+usCore+`us-core-medicationrequest"]},"status":"`...)
		if m.stop != 0 {
			b = append(b, "stopped"...)
		} else {
			b = append(b, "active"...)
		}
		b = append(b, `","intent":"order","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/medicationrequest-category","code":"community","display":"Community"}],"text":"Community"}],"medicationCodeableConcept":`...)
		b = appendConcept(b, sysRxNorm, m.concept)
		b = appendRef(b, "subject", "Patient", pid)
		b = appendRef(b, "encounter", "Encounter", e.id[:])
		b = append(b, `,"authoredOn":`...)
		b = appendTimeString(b, m.start)
		b = appendRef(b, "requester", "Practitioner", g.providers[e.provider][:])
		if m.reason.code != "" {
			b = append(b, `,"reasonCode":[`...)
			b = appendConcept(b, sysSNOMED, m.reason)
			b = append(b, ']')
		}
		b = append(b, `,"dosageInstruction":[{"sequence":1,"timing":{"repeat":{"frequency":1,"period":1.0,"periodUnit":"d"}},"asNeededBoolean":false}],"dispenseRequest":{"numberOfRepeatsAllowed":`...)
		b = strconv.AppendInt(b, int64(max(m.dispenses-1, 0)), 10)
		b = append(b, `,"validityPeriod":{"start":`...)
		b = appendTimeString(b, m.start)
		if m.stop != 0 {
			b = append(b, `,"end":`...)
			b = appendTimeString(b, m.stop)
		}
		b = append(b, "}}}"...)
		o.buf = b
		o.endRow()
	}

	// Immunization
	o = s.imm
	for i := range p.imms {
		im := &p.imms[i]
		id := resourceID(p, 'I', i)
		b := append(o.buf, `{"resourceType":"Immunization","id":"`...)
		b = append(b, id[:]...)
		b = append(b, `","meta":{"profile":["`+usCore+`us-core-immunization"]},"status":"completed","vaccineCode":`...)
		b = appendConcept(b, sysCVX, im.concept)
		b = appendRef(b, "patient", "Patient", pid)
		b = appendRef(b, "encounter", "Encounter", p.encs[im.enc].id[:])
		b = append(b, `,"occurrenceDateTime":`...)
		b = appendTimeString(b, im.t)
		b = append(b, `,"primarySource":true}`...)
		o.buf = b
		o.endRow()
	}

	// Observation
	o = s.obs
	for i := range p.obs {
		ob := &p.obs[i]
		id := resourceID(p, 'O', i)
		b := append(o.buf, `{"resourceType":"Observation","id":"`...)
		b = append(b, id[:]...)
		b = append(b, `","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"`...)
		b = append(b, ob.def.category...)
		b = append(b, `"}]}],"code":`...)
		b = appendConcept(b, sysLOINC, concept{ob.def.code, ob.def.name})
		b = appendRef(b, "subject", "Patient", pid)
		b = appendRef(b, "encounter", "Encounter", p.encs[ob.enc].id[:])
		b = append(b, `,"effectiveDateTime":`...)
		b = appendTimeString(b, ob.t)
		b = append(b, `,"issued":`...)
		b = appendTimeString(b, ob.t)
		if ob.def.unit == "" && ob.text != "" {
			b = append(b, `,"valueString":`...)
			b = appendJSONString(b, ob.text)
		} else {
			b = append(b, `,"valueQuantity":{"value":`...)
			b = strconv.AppendFloat(b, ob.value, 'f', -1, 64)
			b = append(b, `,"unit":`...)
			b = appendJSONString(b, ob.def.unit)
			b = append(b, `,"system":"`+sysUCUM+`","code":`...)
			b = appendJSONString(b, ob.def.unit)
			b = append(b, '}')
		}
		b = append(b, '}')
		o.buf = b
		o.endRow()
	}

	// Procedure
	o = s.proc
	for i := range p.procs {
		pr := &p.procs[i]
		id := resourceID(p, 'P', i)
		b := append(o.buf, `{"resourceType":"Procedure","id":"`...)
		b = append(b, id[:]...)
		b = append(b, `","meta":{"profile":["`+usCore+`us-core-procedure"]},"status":"completed","code":`...)
		b = appendConcept(b, sysSNOMED, pr.concept)
		b = appendRef(b, "subject", "Patient", pid)
		b = appendRef(b, "encounter", "Encounter", p.encs[pr.enc].id[:])
		b = append(b, `,"performedPeriod":{"start":`...)
		b = appendTimeString(b, pr.start)
		b = append(b, `,"end":`...)
		b = appendTimeString(b, pr.stop)
		b = append(b, '}')
		if pr.reason.code != "" {
			b = append(b, `,"reasonCode":[`...)
			b = appendConcept(b, sysSNOMED, pr.reason)
			b = append(b, ']')
		}
		b = append(b, '}')
		o.buf = b
		o.endRow()
	}

	// AdverseEvent: the suspect drug is a contained Medication, because R4
	// does not allow a MedicationRequest as suspectEntity.instance.
	o = s.ae
	for i := range p.aes {
		a := &p.aes[i]
		id := resourceID(p, 'A', i)
		m := &p.meds[a.med]
		c := &p.conds[a.cond]
		b := append(o.buf, `{"resourceType":"AdverseEvent","id":"`...)
		b = append(b, id[:]...)
		b = append(b, `","contained":[{"resourceType":"Medication","id":"suspect","code":`...)
		b = appendConcept(b, sysRxNorm, m.concept)
		b = append(b, `}],"actuality":"actual","event":`...)
		b = appendConcept(b, sysSNOMED, c.concept)
		b = appendRef(b, "subject", "Patient", pid)
		b = appendRef(b, "encounter", "Encounter", p.encs[a.enc].id[:])
		b = append(b, `,"date":`...)
		b = appendTimeString(b, p.encs[a.enc].start)
		b = append(b, `,"resultingCondition":[{"reference":"Condition/`...)
		cid := resourceID(p, 'C', a.cond)
		b = append(b, cid[:]...)
		b = append(b, `"}],"seriousness":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/adverse-event-seriousness","code":`...)
		if a.serious {
			b = append(b, `"serious","display":"Serious"`...)
		} else {
			b = append(b, `"non-serious","display":"Non-serious"`...)
		}
		b = append(b, `}]},"outcome":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/adverse-event-outcome","code":"resolved","display":"Resolved"}]},"recorder":{"reference":"Practitioner/`...)
		b = append(b, g.providers[p.encs[a.enc].provider][:]...)
		b = append(b, `"},"suspectEntity":[{"instance":{"reference":"#suspect","display":`...)
		b = appendJSONString(b, m.name)
		b = append(b, `}}]}`...)
		o.buf = b
		o.endRow()
	}

	// DocumentReference: the notes, base64 as Synthea writes them, with the
	// ids of notes.jsonl, so notes.phi.jsonl's spans apply to the decoded text.
	o = s.doc
	for i := range p.notes {
		n := &p.notes[i]
		e := &p.encs[n.enc]
		b := append(o.buf, `{"resourceType":"DocumentReference","id":"`...)
		b = append(b, n.id[:]...)
		b = append(b, `","meta":{"profile":["`+usCore+`us-core-documentreference"]},"status":"current","type":{"coding":[`...)
		b = appendCoding(b, sysLOINC, noteLOINC[n.typ], n.typ)
		b = append(b, `]},"category":[{"coding":[{"system":"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category","code":"clinical-note","display":"Clinical Note"}]}]`...)
		b = appendRef(b, "subject", "Patient", pid)
		b = append(b, `,"date":`...)
		b = appendTimeString(b, e.start)
		b = append(b, `,"author":[{"reference":"Practitioner/`...)
		b = append(b, g.providers[e.provider][:]...)
		b = append(b, `"}]`...)
		b = appendRef(b, "custodian", "Organization", g.orgs[g.provOrg[e.provider]][:])
		b = append(b, `,"content":[{"attachment":{"contentType":"text/plain; charset=utf-8","data":"`...)
		b = base64.StdEncoding.AppendEncode(b, n.text)
		b = append(b, `"}}],"context":{"encounter":[{"reference":"Encounter/`...)
		b = append(b, e.id[:]...)
		b = append(b, `"}],"period":{"start":`...)
		b = appendTimeString(b, e.start)
		b = append(b, `,"end":`...)
		b = appendTimeString(b, e.stop)
		b = append(b, "}}}"...)
		o.buf = b
		o.endRow()
	}
	return firstErr(s.all)
}
