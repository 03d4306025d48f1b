package source

import (
	"bytes"
	"encoding/json"
)

// A table's resources are decoded into a small struct of the fields its
// mapping reads, chosen by the resourceType the raw JSON names, instead of
// the union of every type's fields: the decoder then matches few keys,
// skips the rest without building them, and clears a few words per
// resource. Whenever the small decode does not apply cleanly (a type not
// listed, a resourceType found nested before the resource's own, any
// decoding error) the resource is decoded into the union as before, so
// errors still name the field and the offset.

type fhirEncounterFields struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Subject      fhirRef     `json:"subject"`
	Class        *fhirCoding `json:"class"`
	Period       fhirPeriod  `json:"period"`
}

type fhirConditionFields struct {
	ResourceType      string      `json:"resourceType"`
	ID                string      `json:"id"`
	Subject           fhirRef     `json:"subject"`
	Encounter         fhirRef     `json:"encounter"`
	Code              fhirConcept `json:"code"`
	OnsetDateTime     string      `json:"onsetDateTime"`
	OnsetPeriod       *fhirPeriod `json:"onsetPeriod"`
	RecordedDate      string      `json:"recordedDate"`
	AbatementDateTime string      `json:"abatementDateTime"`
	AbatementPeriod   *fhirPeriod `json:"abatementPeriod"`
}

type fhirProcedureFields struct {
	ResourceType      string      `json:"resourceType"`
	ID                string      `json:"id"`
	Subject           fhirRef     `json:"subject"`
	Encounter         fhirRef     `json:"encounter"`
	Code              fhirConcept `json:"code"`
	PerformedDateTime string      `json:"performedDateTime"`
	PerformedPeriod   *fhirPeriod `json:"performedPeriod"`
}

type fhirImmunizationFields struct {
	ResourceType       string      `json:"resourceType"`
	ID                 string      `json:"id"`
	Patient            fhirRef     `json:"patient"`
	Encounter          fhirRef     `json:"encounter"`
	VaccineCode        fhirConcept `json:"vaccineCode"`
	OccurrenceDateTime string      `json:"occurrenceDateTime"`
}

type fhirObservationFields struct {
	ResourceType      string        `json:"resourceType"`
	ID                string        `json:"id"`
	Subject           fhirRef       `json:"subject"`
	Encounter         fhirRef       `json:"encounter"`
	Code              fhirConcept   `json:"code"`
	EffectiveDateTime string        `json:"effectiveDateTime"`
	EffectivePeriod   *fhirPeriod   `json:"effectivePeriod"`
	Issued            string        `json:"issued"`
	ValueQuantity     *fhirQuantity `json:"valueQuantity"`
	Component         []struct {
		Code          fhirConcept   `json:"code"`
		ValueQuantity *fhirQuantity `json:"valueQuantity"`
	} `json:"component"`
}

// fhirMedicationFields serves MedicationRequest, MedicationStatement and
// MedicationAdministration.
type fhirMedicationFields struct {
	ResourceType              string            `json:"resourceType"`
	ID                        string            `json:"id"`
	Subject                   fhirRef           `json:"subject"`
	Encounter                 fhirRef           `json:"encounter"`
	Context                   json.RawMessage   `json:"context"`
	Contained                 []json.RawMessage `json:"contained"`
	MedicationCodeableConcept *fhirConcept      `json:"medicationCodeableConcept"`
	MedicationReference       *fhirRef          `json:"medicationReference"`
	AuthoredOn                string            `json:"authoredOn"`
	DispenseRequest           *struct {
		ValidityPeriod fhirPeriod `json:"validityPeriod"`
	} `json:"dispenseRequest"`
	EffectiveDateTime string      `json:"effectiveDateTime"`
	EffectivePeriod   *fhirPeriod `json:"effectivePeriod"`
}

type fhirAdverseEventFields struct {
	ResourceType  string            `json:"resourceType"`
	ID            string            `json:"id"`
	Subject       fhirRef           `json:"subject"`
	Contained     []json.RawMessage `json:"contained"`
	Event         fhirConcept       `json:"event"`
	Date          string            `json:"date"`
	Seriousness   fhirConcept       `json:"seriousness"`
	Outcome       fhirConcept       `json:"outcome"`
	SuspectEntity []struct {
		Instance fhirRef `json:"instance"`
	} `json:"suspectEntity"`
}

type fhirDocumentFields struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Subject      fhirRef         `json:"subject"`
	Encounter    fhirRef         `json:"encounter"`
	Context      json.RawMessage `json:"context"`
	Type         json.RawMessage `json:"type"`
	Date         string          `json:"date"`
	Content      []struct {
		Attachment fhirAttachment `json:"attachment"`
	} `json:"content"`
}

type fhirPatientFields struct {
	ResourceType     string          `json:"resourceType"`
	ID               string          `json:"id"`
	Identifier       json.RawMessage `json:"identifier"`
	Extension        []fhirExtension `json:"extension"`
	Name             []fhirName      `json:"name"`
	Telecom          []fhirContact   `json:"telecom"`
	Gender           string          `json:"gender"`
	BirthDate        string          `json:"birthDate"`
	DeceasedDateTime string          `json:"deceasedDateTime"`
	Address          []fhirAddress   `json:"address"`
}

// typedBufs are the small structs one goroutine decodes into, reused from
// one resource to the next instead of allocated for each.
type typedBufs struct {
	enc  fhirEncounterFields
	cond fhirConditionFields
	proc fhirProcedureFields
	imm  fhirImmunizationFields
	obs  fhirObservationFields
	med  fhirMedicationFields
	ae   fhirAdverseEventFields
	doc  fhirDocumentFields
	pat  fhirPatientFields
}

// decodeTable decodes one resource of a table's read: into the small struct
// of its type when that applies cleanly, else as decodeResource does.
func decodeTable(raw []byte, loc fhirLoc, r *fhirResource, tb *typedBufs) error {
	if decodeTyped(raw, r, tb) {
		return nil
	}
	return decodeResource(raw, loc, r)
}

// decodeTyped reports whether raw was decoded into r through the small
// struct of the type it names; r is then that resource, zero elsewhere.
func decodeTyped(raw []byte, r *fhirResource, tb *typedBufs) bool {
	rt := peekType(raw)
	switch string(rt) {
	case "Encounter":
		return decodeInto(raw, rt, &tb.enc, r)
	case "Condition":
		return decodeInto(raw, rt, &tb.cond, r)
	case "Procedure":
		return decodeInto(raw, rt, &tb.proc, r)
	case "Immunization":
		return decodeInto(raw, rt, &tb.imm, r)
	case "Observation":
		return decodeInto(raw, rt, &tb.obs, r)
	case "MedicationRequest", "MedicationStatement", "MedicationAdministration":
		return decodeInto(raw, rt, &tb.med, r)
	case "AdverseEvent":
		return decodeInto(raw, rt, &tb.ae, r)
	case "DocumentReference":
		return decodeInto(raw, rt, &tb.doc, r)
	case "Patient":
		return decodeInto(raw, rt, &tb.pat, r)
	}
	return false
}

// typedFields is a small struct of a type's fields.
type typedFields interface {
	resourceType() string
	resource(r *fhirResource)
}

// decodeInto decodes raw into v, which must then be of type rt, and sets r.
func decodeInto[T any, P interface {
	*T
	typedFields
}](raw, rt []byte, v P, r *fhirResource) bool {
	var zero T
	*v = zero
	if !fastDecode(raw, v) || v.resourceType() != string(rt) {
		return false
	}
	v.resource(r)
	return true
}

func (v *fhirEncounterFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Subject: v.Subject, Class: v.Class, Period: v.Period}
}

func (v *fhirConditionFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Subject: v.Subject, Encounter: v.Encounter,
		Code: v.Code, OnsetDateTime: v.OnsetDateTime, OnsetPeriod: v.OnsetPeriod, RecordedDate: v.RecordedDate,
		AbatementDateTime: v.AbatementDateTime, AbatementPeriod: v.AbatementPeriod}
}

func (v *fhirProcedureFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Subject: v.Subject, Encounter: v.Encounter,
		Code: v.Code, PerformedDateTime: v.PerformedDateTime, PerformedPeriod: v.PerformedPeriod}
}

func (v *fhirImmunizationFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Patient: v.Patient, Encounter: v.Encounter,
		VaccineCode: v.VaccineCode, OccurrenceDateTime: v.OccurrenceDateTime}
}

func (v *fhirObservationFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Subject: v.Subject, Encounter: v.Encounter,
		Code: v.Code, EffectiveDateTime: v.EffectiveDateTime, EffectivePeriod: v.EffectivePeriod,
		Issued: v.Issued, ValueQuantity: v.ValueQuantity, Component: v.Component}
}

func (v *fhirMedicationFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Subject: v.Subject, Encounter: v.Encounter,
		Context: v.Context, Contained: v.Contained, MedicationCodeableConcept: v.MedicationCodeableConcept,
		MedicationReference: v.MedicationReference, AuthoredOn: v.AuthoredOn, DispenseRequest: v.DispenseRequest,
		EffectiveDateTime: v.EffectiveDateTime, EffectivePeriod: v.EffectivePeriod}
}

func (v *fhirAdverseEventFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Subject: v.Subject, Contained: v.Contained,
		Event: v.Event, Date: v.Date, Seriousness: v.Seriousness, Outcome: v.Outcome, SuspectEntity: v.SuspectEntity}
}

func (v *fhirDocumentFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Subject: v.Subject, Encounter: v.Encounter,
		Context: v.Context, Type: v.Type, Date: v.Date, Content: v.Content}
}

func (v *fhirPatientFields) resource(r *fhirResource) {
	*r = fhirResource{ResourceType: v.ResourceType, ID: v.ID, Identifier: v.Identifier, Extension: v.Extension,
		Name: v.Name, Telecom: v.Telecom, Gender: v.Gender, BirthDate: v.BirthDate,
		DeceasedDateTime: v.DeceasedDateTime, Address: v.Address}
}

func (v *fhirEncounterFields) resourceType() string    { return v.ResourceType }
func (v *fhirConditionFields) resourceType() string    { return v.ResourceType }
func (v *fhirProcedureFields) resourceType() string    { return v.ResourceType }
func (v *fhirImmunizationFields) resourceType() string { return v.ResourceType }
func (v *fhirObservationFields) resourceType() string  { return v.ResourceType }
func (v *fhirMedicationFields) resourceType() string   { return v.ResourceType }
func (v *fhirAdverseEventFields) resourceType() string { return v.ResourceType }
func (v *fhirDocumentFields) resourceType() string     { return v.ResourceType }
func (v *fhirPatientFields) resourceType() string      { return v.ResourceType }

// peekType is the string after the first "resourceType" key in raw, or nil
// when it is not a plain string; the caller checks it against the decoded
// value, since the first one may be a contained resource's.
func peekType(raw []byte) []byte {
	i := bytes.Index(raw, []byte(`"resourceType"`))
	if i < 0 {
		return nil
	}
	b := raw[i+len(`"resourceType"`):]
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n' || b[0] == ':') {
		b = b[1:]
	}
	if len(b) == 0 || b[0] != '"' {
		return nil
	}
	b = b[1:]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return nil
	}
	return b[:j]
}
