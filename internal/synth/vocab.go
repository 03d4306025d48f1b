package synth

import (
	"math"
	"sort"
	"strconv"
)

// concept is a code with its display name, as the export writes them.
type concept struct{ code, name string }

// The vocabulary: real codes for what Synthea commonly writes, extended with
// generated, plausibly named codes so populations carry thousands of codes
// with skewed frequencies. Generated SNOMED CT codes have a valid Verhoeff
// check digit and partition 00; generated RxNorm codes are seven digits from
// 3000000 up, a range clear of the real codes listed here.

// chronic is a long-lasting condition with the medication usually given for it.
type chronic struct {
	concept
	med      concept // zero when untreated
	minAge   int
	sex      byte // 'F', 'M' or 0 for both
	weight   float64
	medCost  float64
	yearlyRx bool // the prescription is renewed at follow-ups
}

var chronics = []chronic{
	{concept{"59621000", "Essential hypertension (disorder)"}, concept{"310798", "Hydrochlorothiazide 25 MG Oral Tablet"}, 30, 0, 30, 0.38, true},
	{concept{"55822004", "Hyperlipidemia"}, concept{"259255", "Atorvastatin 80 MG Oral Tablet"}, 35, 0, 20, 1.12, true},
	{concept{"15777000", "Prediabetes"}, concept{}, 30, 0, 16, 0, false},
	{concept{"44054006", "Diabetes mellitus type 2 (disorder)"}, concept{"860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"}, 35, 0, 12, 0.46, true},
	{concept{"162864005", "Body mass index 30+ - obesity (finding)"}, concept{}, 18, 0, 14, 0, false},
	{concept{"271737000", "Anemia (disorder)"}, concept{"310325", "ferrous sulfate 325 MG Oral Tablet"}, 0, 'F', 8, 0.05, false},
	{concept{"232353008", "Perennial allergic rhinitis with seasonal variation"}, concept{"665078", "Loratadine 5 MG Chewable Tablet"}, 2, 0, 9, 7.24, true},
	{concept{"195967001", "Asthma"}, concept{"2123111", "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"}, 5, 0, 7, 48.2, true},
	{concept{"233678006", "Childhood asthma"}, concept{"895994", "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler"}, 2, 0, 3, 39.8, true},
	{concept{"185086009", "Chronic obstructive bronchitis (disorder)"}, concept{"2123111", "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"}, 45, 0, 4, 48.2, true},
	{concept{"53741008", "Coronary Heart Disease"}, concept{"309362", "Clopidogrel 75 MG Oral Tablet"}, 45, 0, 5, 2.11, true},
	{concept{"49436004", "Atrial fibrillation (disorder)"}, concept{"855332", "Warfarin Sodium 5 MG Oral Tablet"}, 55, 0, 4, 0.29, true},
	{concept{"88805009", "Chronic congestive heart failure (disorder)"}, concept{"310429", "Furosemide 20 MG Oral Tablet"}, 55, 0, 3, 0.12, true},
	{concept{"82423001", "Chronic pain"}, concept{"849574", "Naproxen sodium 220 MG Oral Tablet"}, 18, 0, 6, 0.21, true},
	{concept{"278860009", "Chronic low back pain (finding)"}, concept{"849574", "Naproxen sodium 220 MG Oral Tablet"}, 20, 0, 5, 0.21, true},
	{concept{"239873007", "Osteoarthritis of knee"}, concept{"198440", "Acetaminophen 500 MG Oral Tablet"}, 45, 0, 5, 0.07, true},
	{concept{"239872002", "Osteoarthritis of hip"}, concept{"198440", "Acetaminophen 500 MG Oral Tablet"}, 50, 0, 3, 0.07, true},
	{concept{"69896004", "Rheumatoid arthritis"}, concept{"105585", "Methotrexate 2.5 MG Oral Tablet"}, 25, 0, 2, 0.64, true},
	{concept{"40055000", "Chronic sinusitis (disorder)"}, concept{}, 10, 0, 4, 0, false},
	{concept{"35489007", "Depressive disorder (disorder)"}, concept{"310385", "Fluoxetine 20 MG Oral Capsule"}, 12, 0, 7, 0.18, true},
	{concept{"197480006", "Anxiety disorder (disorder)"}, concept{"312940", "Sertraline 50 MG Oral Tablet"}, 12, 0, 6, 0.15, true},
	{concept{"40930008", "Hypothyroidism (disorder)"}, concept{"966222", "Levothyroxine Sodium 0.075 MG Oral Tablet"}, 20, 'F', 5, 0.31, true},
	{concept{"431855005", "Chronic kidney disease stage 1 (disorder)"}, concept{}, 40, 0, 3, 0, false},
	{concept{"433144002", "Chronic kidney disease stage 3 (disorder)"}, concept{}, 55, 0, 2, 0, false},
	{concept{"46177005", "End-stage renal disease (disorder)"}, concept{}, 60, 0, 0.5, 0, false},
	{concept{"230690007", "Cerebrovascular accident (disorder)"}, concept{"309362", "Clopidogrel 75 MG Oral Tablet"}, 55, 0, 1.5, 2.11, true},
	{concept{"26929004", "Alzheimer's disease (disorder)"}, concept{"997223", "Donepezil hydrochloride 10 MG Oral Tablet"}, 65, 0, 1.5, 1.4, true},
	{concept{"64859006", "Osteoporosis (disorder)"}, concept{"904419", "Alendronic acid 10 MG Oral Tablet"}, 55, 'F', 3, 0.9, true},
	{concept{"73430006", "Sleep apnea (disorder)"}, concept{}, 30, 0, 3, 0, false},
	{concept{"124171000119105", "Chronic intractable migraine without aura"}, concept{"857005", "Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet"}, 14, 0, 2, 0.55, true},
	{concept{"1121000119107", "Chronic neck pain (finding)"}, concept{}, 25, 0, 2, 0, false},
	{concept{"47505003", "Posttraumatic stress disorder"}, concept{}, 16, 0, 1.2, 0, false},
	{concept{"7200002", "Alcoholism"}, concept{}, 18, 0, 1.2, 0, false},
	{concept{"87433001", "Pulmonary emphysema (disorder)"}, concept{}, 50, 0, 1, 0, false},
	{concept{"254837009", "Malignant neoplasm of breast (disorder)"}, concept{"198240", "Tamoxifen 10 MG Oral Tablet"}, 40, 'F', 1, 1.1, true},
	{concept{"126906006", "Neoplasm of prostate"}, concept{}, 50, 'M', 1.2, 0, false},
	{concept{"363406005", "Malignant neoplasm of colon"}, concept{}, 50, 0, 0.5, 0, false},
	{concept{"368581000119106", "Neuropathy due to type 2 diabetes mellitus (disorder)"}, concept{}, 45, 0, 1, 0, false},
	{concept{"90781000119102", "Microalbuminuria due to type 2 diabetes mellitus (disorder)"}, concept{}, 45, 0, 1, 0, false},
	{concept{"60573004", "Aortic valve stenosis (disorder)"}, concept{}, 65, 0, 0.7, 0, false},
	{concept{"84757009", "Epilepsy"}, concept{"311289", "Levetiracetam 500 MG Oral Tablet"}, 0, 0, 0.8, 0.5, true},
}

// acute is a short condition diagnosed at a visit.
type acute struct {
	concept
	days   int     // typical duration
	med    concept // zero when untreated
	weight float64
	er     bool // usually seen in an emergency department
}

var acutes = []acute{
	{concept{"195662009", "Acute viral pharyngitis (disorder)"}, 10, concept{"313782", "Acetaminophen 325 MG Oral Tablet"}, 30, false},
	{concept{"444814009", "Viral sinusitis (disorder)"}, 14, concept{}, 30, false},
	{concept{"10509002", "Acute bronchitis (disorder)"}, 14, concept{"313782", "Acetaminophen 325 MG Oral Tablet"}, 20, false},
	{concept{"43878008", "Streptococcal sore throat (disorder)"}, 10, concept{"834061", "Penicillin V Potassium 250 MG Oral Tablet"}, 10, false},
	{concept{"65363002", "Otitis media"}, 10, concept{"308182", "Amoxicillin 250 MG Oral Capsule"}, 12, false},
	{concept{"75498004", "Acute bacterial sinusitis (disorder)"}, 14, concept{"308182", "Amoxicillin 250 MG Oral Capsule"}, 8, false},
	{concept{"68566005", "Urinary tract infectious disease (disorder)"}, 7, concept{"309309", "Ciprofloxacin 500 MG Oral Tablet"}, 9, false},
	{concept{"38822007", "Cystitis"}, 7, concept{"309309", "Ciprofloxacin 500 MG Oral Tablet"}, 4, false},
	{concept{"233604007", "Pneumonia (disorder)"}, 21, concept{"308182", "Amoxicillin 250 MG Oral Capsule"}, 5, true},
	{concept{"840539006", "COVID-19"}, 14, concept{}, 6, false},
	{concept{"386661006", "Fever (finding)"}, 4, concept{"313782", "Acetaminophen 325 MG Oral Tablet"}, 7, false},
	{concept{"49727002", "Cough (finding)"}, 10, concept{}, 8, false},
	{concept{"25064002", "Headache (finding)"}, 3, concept{"198405", "Ibuprofen 100 MG Oral Tablet"}, 6, false},
	{concept{"267036007", "Dyspnea (finding)"}, 5, concept{}, 3, true},
	{concept{"422587007", "Nausea (finding)"}, 3, concept{}, 4, false},
	{concept{"44465007", "Sprain of ankle"}, 28, concept{"198405", "Ibuprofen 100 MG Oral Tablet"}, 7, true},
	{concept{"70704007", "Sprain of wrist"}, 28, concept{"198405", "Ibuprofen 100 MG Oral Tablet"}, 4, true},
	{concept{"62106007", "Concussion with no loss of consciousness"}, 21, concept{}, 3, true},
	{concept{"33737001", "Fracture of rib"}, 42, concept{"1049625", "Acetaminophen 325 MG / Oxycodone Hydrochloride 10 MG Oral Tablet [Percocet]"}, 2, true},
	{concept{"16114001", "Fracture of ankle"}, 56, concept{"1049625", "Acetaminophen 325 MG / Oxycodone Hydrochloride 10 MG Oral Tablet [Percocet]"}, 2, true},
	{concept{"58150001", "Fracture of clavicle"}, 56, concept{}, 1, true},
	{concept{"283371005", "Laceration of forearm"}, 14, concept{}, 3, true},
	{concept{"370247008", "Facial laceration"}, 14, concept{}, 2, true},
	{concept{"74400008", "Appendicitis"}, 14, concept{}, 1, true},
	{concept{"55680006", "Drug overdose"}, 3, concept{}, 1, true},
	{concept{"91302008", "Sepsis (disorder)"}, 14, concept{}, 0.7, true},
	{concept{"241929008", "Acute allergic reaction"}, 3, concept{"1870230", "NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector"}, 2, true},
	{concept{"39848009", "Whiplash injury to neck"}, 21, concept{}, 1.5, true},
	{concept{"128613002", "Seizure disorder"}, 3, concept{}, 1, true},
	{concept{"68496003", "Polyp of colon"}, 30, concept{}, 2, false},
	{concept{"196416002", "Impacted molars"}, 14, concept{}, 2, false},
	{concept{"36971009", "Sinusitis (disorder)"}, 14, concept{}, 5, false},
	{concept{"403190006", "Epidermal burn of skin (disorder)"}, 14, concept{}, 1.5, true},
	{concept{"72892002", "Normal pregnancy"}, 270, concept{}, 0, false},
}

// findings are social and lifestyle findings Synthea records at wellness visits.
var findings = []concept{
	{"160903007", "Full-time employment (finding)"},
	{"73595000", "Stress (finding)"},
	{"423315002", "Limited social contact (finding)"},
	{"422650009", "Social isolation (finding)"},
	{"160904001", "Part-time employment (finding)"},
	{"706893006", "Victim of intimate partner abuse (finding)"},
	{"5251000175109", "Received certificate of high school equivalency (finding)"},
	{"224299000", "Received higher education (finding)"},
	{"741062008", "Not in labor force (finding)"},
	{"266948004", "Has a criminal record (finding)"},
	{"160968000", "Risk activity involvement (finding)"},
	{"73438004", "Unemployed (finding)"},
	{"105531004", "Housing unsatisfactory (finding)"},
	{"10939881000119104", "Unhealthy alcohol drinking behavior (finding)"},
}

// Signal drugs and events the generator knows by name. Codes planted with
// --signal that are not listed get a generic name.
var knownDrugs = map[string]string{
	"314076":  "lisinopril 10 MG Oral Tablet",
	"312961":  "Simvastatin 20 MG Oral Tablet",
	"562251":  "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet",
	"197361":  "Amlodipine 5 MG Oral Tablet",
	"308136":  "amLODIPine 2.5 MG Oral Tablet",
	"314231":  "Simvastatin 10 MG Oral Tablet",
	"1049630": "diphenhydrAMINE Hydrochloride 25 MG Oral Tablet",
	"197378":  "Astemizole 10 MG Oral Tablet",
	"141918":  "Terfenadine 60 MG Oral Tablet",
	"311670":  "Metoprolol Tartrate 50 MG Oral Tablet",
	"205923":  "1 ML Epoetin Alfa 4000 UNT/ML Injection [Epogen]",
}

var knownEvents = map[string]string{
	"41291007":  "Angioedema (disorder)",
	"68962001":  "Muscle pain (finding)",
	"62315008":  "Diarrhea (finding)",
	"271807003": "Eruption of skin (disorder)",
	"422587007": "Nausea (finding)",
	"25064002":  "Headache (finding)",
	"404640003": "Dizziness (finding)",
	"49727002":  "Cough (finding)",
	"267036007": "Dyspnea (finding)",
	"14669001":  "Acute renal failure syndrome (disorder)",
	"235595009": "Gastroesophageal reflux disease (disorder)",
	"37796009":  "Migraine (disorder)",
}

// Encounter types by class.
var (
	encWellnessAdult = concept{"162673000", "General examination of patient (procedure)"}
	encWellnessChild = concept{"410620009", "Well child visit (procedure)"}
	encSymptom       = concept{"185345009", "Encounter for symptom"}
	encProblem       = concept{"185347001", "Encounter for problem (procedure)"}
	encFollowUp      = concept{"390906007", "Follow-up encounter (procedure)"}
	encCheckUp       = concept{"185349003", "Encounter for check up (procedure)"}
	encOutpatient    = concept{"371883000", "Outpatient procedure"}
	encER            = concept{"50849002", "Emergency room admission (procedure)"}
	encInpatient     = concept{"183452005", "Encounter Inpatient"}
	encUrgent        = concept{"702927004", "Urgent care clinic (procedure)"}
	encDeath         = concept{"308646001", "Death Certification"}
)

// Immunizations (CVX).
var (
	cvxFlu   = concept{"140", "Influenza, seasonal, injectable, preservative free"}
	cvxTd    = concept{"113", "Td (adult) preservative free"}
	cvxCOVID = concept{"208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose"}
	cvxChild = []concept{
		{"08", "Hep B, adolescent or pediatric"},
		{"10", "IPV"},
		{"20", "DTaP"},
		{"49", "Hib (PRP-OMP)"},
		{"133", "Pneumococcal conjugate PCV 13"},
		{"116", "rotavirus, pentavalent"},
		{"03", "MMR"},
		{"21", "varicella"},
		{"83", "Hep A, ped/adol, 2 dose"},
		{"62", "HPV, quadrivalent"},
		{"114", "meningococcal MCV4P"},
		{"115", "Tdap"},
	}
	cvxSenior = []concept{
		{"33", "pneumococcal polysaccharide vaccine, 23 valent"},
		{"121", "zoster"},
	}
)

// Procedures commonly done at visits.
var (
	procWellness = []concept{
		{"430193006", "Medication Reconciliation (procedure)"},
		{"171207006", "Depression screening (procedure)"},
		{"454711000124102", "Depression screening using Patient Health Questionnaire Two-Item score (procedure)"},
		{"710824005", "Assessment of health and social care needs (procedure)"},
		{"428211000124100", "Assessment of substance use (procedure)"},
		{"710841007", "Assessment of anxiety (procedure)"},
		{"763302001", "Assessment using Alcohol Use Disorders Identification Test - Consumption (procedure)"},
		{"866148006", "Screening for domestic abuse (procedure)"},
		{"713106006", "Screening for drug abuse (procedure)"},
		{"73761001", "Colonoscopy"},
		{"90226004", "Cytopathology procedure, preparation of smear, genital source"},
		{"395142003", "Allergy screening test"},
	}
	procAcute = []concept{
		{"104091002", "Hemoglobin / Hematocrit / Platelet count"},
		{"117015009", "Throat culture (procedure)"},
		{"76601001", "Intramuscular injection"},
		{"399208008", "Plain chest X-ray (procedure)"},
		{"268556000", "Urine screening test for diabetes"},
		{"127783003", "Spirometry (procedure)"},
		{"40701008", "Echocardiography (procedure)"},
		{"415070008", "Percutaneous coronary intervention"},
		{"80146002", "Excision of appendix"},
		{"288086009", "Suture open wound"},
		{"274474001", "Bone immobilization"},
		{"180256009", "Subcutaneous immunotherapy"},
		{"762993000", "Assessment using Morse Fall Scale (procedure)"},
		{"1225002", "Upper arm X-ray"},
		{"703423002", "Combined chemotherapy and radiation therapy (procedure)"},
		{"265764009", "Renal dialysis (procedure)"},
	}
)

// observation kinds: a LOINC code, its name and unit, and how values look.
type obsDef struct {
	category, code, name, unit string
	lo, hi                     float64 // typical adult range
}

var (
	obsHeight   = obsDef{"vital-signs", "8302-2", "Body Height", "cm", 150, 190}
	obsWeight   = obsDef{"vital-signs", "29463-7", "Body Weight", "kg", 50, 110}
	obsBMI      = obsDef{"vital-signs", "39156-5", "Body Mass Index", "kg/m2", 18, 40}
	obsDia      = obsDef{"vital-signs", "8462-4", "Diastolic Blood Pressure", "mm[Hg]", 62, 96}
	obsSys      = obsDef{"vital-signs", "8480-6", "Systolic Blood Pressure", "mm[Hg]", 102, 156}
	obsHR       = obsDef{"vital-signs", "8867-4", "Heart rate", "/min", 58, 100}
	obsRR       = obsDef{"vital-signs", "9279-1", "Respiratory rate", "/min", 12, 20}
	obsPain     = obsDef{"vital-signs", "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported", "{score}", 0, 4}
	obsTemp     = obsDef{"vital-signs", "8310-5", "Body temperature", "Cel", 36.4, 38.9}
	obsSmoking  = obsDef{"survey", "72166-2", "Tobacco smoking status NHIS", "", 0, 0}
	obsPHQ2     = obsDef{"survey", "55758-7", "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]", "{score}", 0, 4}
	obsDeath    = obsDef{"exam", "69453-9", "Cause of Death [US Standard Certificate of Death]", "", 0, 0}
	obsMetabolc = []obsDef{
		{"laboratory", "2339-0", "Glucose", "mg/dL", 70, 140},
		{"laboratory", "6299-2", "Urea Nitrogen", "mg/dL", 7, 20},
		{"laboratory", "38483-4", "Creatinine", "mg/dL", 0.6, 1.3},
		{"laboratory", "49765-1", "Calcium", "mg/dL", 8.6, 10.3},
		{"laboratory", "2947-0", "Sodium", "mmol/L", 136, 144},
		{"laboratory", "6298-4", "Potassium", "mmol/L", 3.6, 5.1},
		{"laboratory", "2069-3", "Chloride", "mmol/L", 98, 107},
		{"laboratory", "20565-8", "Carbon Dioxide", "mmol/L", 21, 30},
	}
	obsLipids = []obsDef{
		{"laboratory", "2093-3", "Total Cholesterol", "mg/dL", 150, 260},
		{"laboratory", "2571-8", "Triglycerides", "mg/dL", 80, 220},
		{"laboratory", "18262-6", "Low Density Lipoprotein Cholesterol", "mg/dL", 70, 170},
		{"laboratory", "2085-9", "High Density Lipoprotein Cholesterol", "mg/dL", 35, 80},
	}
	obsA1c = obsDef{"laboratory", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5, 9}
)

var smokingStatus = []string{"Never smoker", "Never smoker", "Never smoker", "Former smoker", "Former smoker", "Every day smoker"}

// generated code tables: built once, shared by every generator.
var (
	genConditions []concept
	genDrugs      []concept
)

func init() {
	genConditions = generateConditions()
	genDrugs = generateDrugs()
}

var (
	condQualifiers = []string{"", "Acute ", "Chronic ", "Recurrent ", "Closed "}
	condMorph      = []string{
		"contusion", "abscess", "cyst", "benign neoplasm", "tendinitis", "bursitis", "ulcer",
		"inflammation", "laceration", "dislocation", "hypertrophy", "calcification", "stenosis",
		"infection", "lesion", "degeneration", "sprain", "hematoma", "fibrosis", "polyp",
	}
	condSites = []string{
		"left knee", "right knee", "left shoulder", "right shoulder", "left hip", "right hip",
		"left wrist", "right wrist", "left elbow", "right elbow", "left ankle", "right ankle",
		"lumbar spine", "cervical spine", "thoracic spine", "scalp", "forehead", "eyelid",
		"cornea", "ear canal", "nasal cavity", "tongue", "gingiva", "larynx", "thyroid gland",
		"breast", "chest wall", "abdominal wall", "liver", "gallbladder", "pancreas", "stomach",
		"duodenum", "colon", "rectum", "kidney", "bladder", "ureter", "skin of back", "skin of leg",
		"skin of arm", "foot", "hand", "finger", "toe", "lung", "pleura", "esophagus",
	}
	drugIngredients = []string{
		"Metoprolol Tartrate", "Losartan Potassium", "Omeprazole", "Pantoprazole", "Gabapentin",
		"Sertraline", "Citalopram", "Escitalopram", "Trazodone", "Bupropion Hydrochloride",
		"Montelukast", "Prednisone", "Methylprednisolone", "Cetirizine Hydrochloride", "Azithromycin",
		"Doxycycline Hyclate", "Cephalexin", "Clindamycin", "Tramadol Hydrochloride", "Meloxicam",
		"Cyclobenzaprine Hydrochloride", "Tamsulosin Hydrochloride", "Finasteride", "Allopurinol",
		"Carvedilol", "Atenolol", "Propranolol Hydrochloride", "Diltiazem Hydrochloride",
		"Spironolactone", "Glipizide", "Pioglitazone", "Sitagliptin", "Rosuvastatin Calcium",
		"Pravastatin Sodium", "Ezetimibe", "Apixaban", "Rivaroxaban", "Famotidine", "Ondansetron",
		"Hydroxyzine Hydrochloride", "Buspirone Hydrochloride", "Venlafaxine", "Duloxetine",
		"Mirtazapine", "Quetiapine", "Aripiprazole", "Lamotrigine", "Topiramate", "Baclofen",
		"Oxybutynin Chloride", "Valacyclovir", "Fluconazole", "Nitrofurantoin", "Sulfamethoxazole",
		"Benzonatate", "Guaifenesin", "Folic Acid", "Cholecalciferol", "Potassium Chloride",
		"Magnesium Oxide", "Verapamil Hydrochloride", "Hydralazine Hydrochloride", "Clonidine Hydrochloride",
		"Lorazepam", "Alprazolam", "Zolpidem Tartrate", "Methocarbamol", "Celecoxib", "Diclofenac Sodium",
		"Nortriptyline", "Amitriptyline Hydrochloride", "Paroxetine", "Risperidone", "Olanzapine",
		"Donepezil", "Memantine", "Ropinirole", "Pramipexole", "Levocetirizine", "Fexofenadine Hydrochloride",
	}
	drugStrengths = []string{"2.5 MG", "5 MG", "10 MG", "20 MG", "25 MG", "40 MG", "50 MG", "100 MG", "150 MG", "200 MG", "250 MG", "500 MG"}
	drugForms     = []string{"Oral Tablet", "Oral Capsule", "Extended Release Oral Tablet", "Delayed Release Oral Capsule"}
)

func generateConditions() []concept {
	taken := map[string]bool{}
	for _, c := range chronics {
		taken[c.code] = true
	}
	for _, a := range acutes {
		taken[a.code] = true
	}
	for code := range knownEvents {
		taken[code] = true
	}
	var out []concept
	h := uint64(0x5eed5c7)
	for _, m := range condMorph {
		for _, s := range condSites {
			for qi, q := range condQualifiers {
				if qi > 0 && (len(m)+len(s)+qi)%3 == 0 {
					continue // not every qualifier fits every site
				}
				name := q + m + " of " + s + " (disorder)"
				if q == "" {
					name = string(m[0]-32) + m[1:] + " of " + s + " (disorder)"
				}
				for {
					h = splitmix(h)
					item := 100000 + h%899999900
					code := strconv.FormatUint(item, 10) + "00"
					code += string(rune('0' + verhoeff(code)))
					if !taken[code] {
						taken[code] = true
						out = append(out, concept{code, name})
						break
					}
				}
			}
		}
	}
	return out
}

func generateDrugs() []concept {
	var out []concept
	n := uint64(3000000)
	for i, ing := range drugIngredients {
		for j, st := range drugStrengths {
			if (i+j)%3 == 1 {
				continue
			}
			for k, form := range drugForms {
				if (i+j+k)%2 == 1 {
					continue
				}
				n += 1 + (splitmix(n) % 97)
				out = append(out, concept{strconv.FormatUint(n, 10), ing + " " + st + " " + form})
			}
		}
	}
	return out
}

// Verhoeff check digit, as SNOMED CT identifiers carry.
var (
	verhoeffD = [10][10]uint8{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
		{2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
		{4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
		{8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]uint8{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
		{5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
		{9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
	verhoeffInv = [10]uint8{0, 4, 3, 2, 1, 5, 6, 7, 8, 9}
)

// verhoeff returns the check digit to append to the decimal digits s.
func verhoeff(s string) int {
	c := uint8(0)
	for i := 0; i < len(s); i++ {
		d := s[len(s)-1-i] - '0'
		c = verhoeffD[c][verhoeffP[(i+1)%8][d]]
	}
	return int(verhoeffInv[c])
}

// verhoeffValid reports whether s ends in a correct Verhoeff check digit.
func verhoeffValid(s string) bool {
	c := uint8(0)
	for i := 0; i < len(s); i++ {
		d := s[len(s)-1-i] - '0'
		c = verhoeffD[c][verhoeffP[i%8][d]]
	}
	return c == 0
}

// zipf samples indexes 0..n-1 with probability proportional to weight.
type zipf struct{ cum []float64 }

func newWeighted(weights []float64) zipf {
	cum := make([]float64, len(weights))
	total := 0.0
	for i, w := range weights {
		total += w
		cum[i] = total
	}
	for i := range cum {
		cum[i] /= total
	}
	return zipf{cum}
}

// zipfWeights gives n ranks weights 1/(rank+1)^s.
func zipfWeights(n int, s float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
	}
	return w
}

func (z zipf) pick(u float64) int {
	i := sort.SearchFloat64s(z.cum, u)
	if i >= len(z.cum) {
		i = len(z.cum) - 1
	}
	return i
}

// drugName names an RxNorm code from the vocabulary, or generically.
func drugName(code string) string {
	if n := knownDrugs[code]; n != "" {
		return n
	}
	for _, c := range chronics {
		if c.med.code == code {
			return c.med.name
		}
	}
	for _, a := range acutes {
		if a.med.code == code {
			return a.med.name
		}
	}
	for _, d := range genDrugs {
		if d.code == code {
			return d.name
		}
	}
	return "RxNorm concept " + code
}

// conditionName names a SNOMED CT code from the vocabulary, or generically.
func conditionName(code string) string {
	if n := knownEvents[code]; n != "" {
		return n
	}
	for _, c := range chronics {
		if c.code == code {
			return c.name
		}
	}
	for _, a := range acutes {
		if a.code == code {
			return a.name
		}
	}
	for _, f := range findings {
		if f.code == code {
			return f.name
		}
	}
	for _, c := range genConditions {
		if c.code == code {
			return c.name
		}
	}
	return "SNOMED CT concept " + code
}
