package synth

// Names and places. All invented combinations of common US names and real
// towns; street numbers, SSNs (999-), phones (555-) and MRNs are random.

var (
	firstFemale = []string{
		"Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
		"Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
		"Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia",
		"Kathleen", "Amy", "Angela", "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen",
		"Samantha", "Katherine", "Christine", "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather",
		"Diane", "Ruth", "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren", "Christina",
		"Joan", "Evelyn", "Judith", "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria",
		"Teresa", "Ann", "Sara", "Madison", "Frances", "Kathryn", "Janice", "Jean", "Abigail", "Alice",
		"Sophia", "Isabella", "Mia", "Ava", "Chloe", "Grace", "Zoe", "Lucia", "Guadalupe", "Mei", "Priya", "Aaliyah",
	}
	firstMale = []string{
		"James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
		"Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
		"Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
		"Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Brandon",
		"Benjamin", "Samuel", "Gregory", "Alexander", "Frank", "Patrick", "Raymond", "Jack", "Dennis", "Jerry",
		"Tyler", "Aaron", "Jose", "Adam", "Nathan", "Henry", "Douglas", "Zachary", "Peter", "Kyle",
		"Ethan", "Walter", "Noah", "Jeremy", "Christian", "Keith", "Roger", "Terry", "Gerald", "Harold",
		"Sean", "Austin", "Carl", "Arthur", "Lawrence", "Dylan", "Jesse", "Jordan", "Bryan", "Billy",
		"Liam", "Mason", "Elijah", "Lucas", "Mateo", "Santiago", "Wei", "Arjun", "Hiroshi", "Malik", "DeShawn",
	}
	lastNames = []string{
		"Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
		"Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
		"Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams", "Baker",
		"Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards",
		"Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Bailey",
		"Reed", "Kelly", "Howard", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Wood", "James",
		"Bennett", "Gray", "Hughes", "Price", "Sanders", "Myers", "Long", "Ross", "Foster", "Powell",
		"Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes", "Fisher",
		"Mosciski", "Schmidt", "Okuneva", "Mann", "DuBuque", "Schmeler", "Ankunding", "Zulauf", "Kerluke", "Prohaska",
		"O'Connor", "McCarthy", "Van Buren", "Schultz", "Kowalski", "Novak", "Larsen", "Olsen", "Becker", "Weber",
	}
	lastHispanic = []string{
		"Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Perez", "Sanchez", "Ramirez", "Torres",
		"Flores", "Rivera", "Gomez", "Diaz", "Reyes", "Cruz", "Morales", "Ortiz", "Gutierrez", "Chavez",
		"Ramos", "Ruiz", "Alvarez", "Mendoza", "Vasquez", "Castillo", "Jimenez", "Moreno", "Romero", "Herrera",
	}
	lastAsian = []string{
		"Nguyen", "Kim", "Lee", "Chen", "Wang", "Li", "Zhang", "Liu", "Patel", "Shah",
		"Tran", "Pham", "Park", "Choi", "Singh", "Kumar", "Tanaka", "Yamamoto", "Huang", "Wu",
	}
	streetNames = []string{
		"Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine",
		"Walnut", "Sunset", "Highland", "Jefferson", "Lincoln", "Madison", "Franklin", "Church", "Mill", "River",
		"Spring", "Chestnut", "Willow", "Meadow", "Forest", "Prospect", "Ridge", "Valley", "Stamm", "Kemmer",
		"Labadie", "Daniel", "Sawayn", "Rowe", "Howe", "Dibbert", "Kris", "Stoltenberg", "Stehr", "Rodriguez",
	}
	streetSuffixes = []string{
		"Street", "Avenue", "Road", "Lane", "Drive", "Court", "Way", "Boulevard", "Place", "Terrace",
		"Lock", "Neck", "Underpass", "Union", "Throughway", "Light", "Landing", "Ville", "Dam", "Vale", "Junction",
	}
	unitKinds       = []string{"Apt", "Unit", "Suite"}
	prefixes        = [...]string{"Mr.", "Mrs.", "Ms.", "Dr."}
	emailDoms       = []string{"example.com", "example.org", "mail.example.net"}
	clinicianTitles = []string{"Dr.", "Dr.", "Dr.", "NP", "PA"}
)

// place is a town with its county, state, ZIP and coordinates.
type place struct {
	city, county, state, abbr, zip string
	lat, lon                       float64
}

var places = []place{
	{"Boston", "Suffolk County", "Massachusetts", "MA", "02118", 42.336, -71.072},
	{"Somerville", "Middlesex County", "Massachusetts", "MA", "02143", 42.388, -71.100},
	{"Worcester", "Worcester County", "Massachusetts", "MA", "01604", 42.262, -71.802},
	{"Springfield", "Hampden County", "Massachusetts", "MA", "01103", 42.102, -72.590},
	{"Lowell", "Middlesex County", "Massachusetts", "MA", "01851", 42.631, -71.316},
	{"New York", "New York County", "New York", "NY", "10025", 40.798, -73.966},
	{"Brooklyn", "Kings County", "New York", "NY", "11215", 40.663, -73.985},
	{"Buffalo", "Erie County", "New York", "NY", "14201", 42.894, -78.884},
	{"Albany", "Albany County", "New York", "NY", "12203", 42.677, -73.822},
	{"Philadelphia", "Philadelphia County", "Pennsylvania", "PA", "19104", 39.958, -75.198},
	{"Pittsburgh", "Allegheny County", "Pennsylvania", "PA", "15213", 40.444, -79.955},
	{"Chicago", "Cook County", "Illinois", "IL", "60614", 41.922, -87.652},
	{"Springfield", "Sangamon County", "Illinois", "IL", "62704", 39.772, -89.682},
	{"Houston", "Harris County", "Texas", "TX", "77004", 29.724, -95.363},
	{"Austin", "Travis County", "Texas", "TX", "78705", 30.292, -97.739},
	{"El Paso", "El Paso County", "Texas", "TX", "79902", 31.777, -106.499},
	{"Los Angeles", "Los Angeles County", "California", "CA", "90033", 34.050, -118.212},
	{"San Diego", "San Diego County", "California", "CA", "92103", 32.748, -117.167},
	{"Fresno", "Fresno County", "California", "CA", "93721", 36.738, -119.785},
	{"Miami", "Miami-Dade County", "Florida", "FL", "33136", 25.786, -80.204},
	{"Tampa", "Hillsborough County", "Florida", "FL", "33606", 27.931, -82.467},
	{"Atlanta", "Fulton County", "Georgia", "GA", "30303", 33.753, -84.391},
	{"Seattle", "King County", "Washington", "WA", "98104", 47.602, -122.326},
	{"Spokane", "Spokane County", "Washington", "WA", "99201", 47.664, -117.436},
	{"Omaha", "Douglas County", "Nebraska", "NE", "68105", 41.242, -95.962},
	{"Lincoln", "Lancaster County", "Nebraska", "NE", "68508", 40.813, -96.700},
	{"Minneapolis", "Hennepin County", "Minnesota", "MN", "55455", 44.973, -93.235},
	{"Denver", "Denver County", "Colorado", "CO", "80204", 39.736, -105.023},
	{"Phoenix", "Maricopa County", "Arizona", "AZ", "85006", 33.466, -112.048},
	{"Albuquerque", "Bernalillo County", "New Mexico", "NM", "87106", 35.072, -106.618},
	{"Las Vegas", "Clark County", "Nevada", "NV", "89102", 36.145, -115.186},
	{"Cheyenne", "Laramie County", "Wyoming", "WY", "82001", 41.140, -104.820},
	{"Burlington", "Chittenden County", "Vermont", "VT", "05401", 44.476, -73.212},
	{"Manchester", "Hillsborough County", "New Hampshire", "NH", "03101", 42.991, -71.463},
	{"Hartford", "Hartford County", "Connecticut", "CT", "06106", 41.746, -72.689},
	{"Washington", "District of Columbia", "District of Columbia", "DC", "20001", 38.912, -77.018},
	{"Baltimore", "Baltimore City", "Maryland", "MD", "21201", 39.295, -76.624},
	{"Columbus", "Franklin County", "Ohio", "OH", "43210", 40.002, -83.016},
	{"Detroit", "Wayne County", "Michigan", "MI", "48201", 42.347, -83.060},
	{"Nashville", "Davidson County", "Tennessee", "TN", "37203", 36.150, -86.790},
}

// restrictedPlaces lie in the 17 three-digit ZIP areas of fewer than 20,000
// people that HIPAA Safe Harbor replaces with 000.
var restrictedPlaces = []place{
	{"Alstead", "Cheshire County", "New Hampshire", "NH", "03602", 43.148, -72.360},
	{"Island Pond", "Essex County", "Vermont", "VT", "05846", 44.813, -71.880},
	{"New London", "New London County", "Connecticut", "CT", "06320", 41.355, -72.100},
	{"Bronx", "Bronx County", "New York", "NY", "10211", 40.845, -73.865},
	{"Washington", "District of Columbia", "District of Columbia", "DC", "20310", 38.871, -77.056},
	{"Grand Marais", "Cook County", "Minnesota", "MN", "55604", 47.750, -90.334},
	{"Valentine", "Cherry County", "Nebraska", "NE", "69201", 42.873, -100.551},
	{"Amarillo", "Potter County", "Texas", "TX", "79012", 35.222, -101.831},
	{"Yellowstone National Park", "Park County", "Wyoming", "WY", "82190", 44.600, -110.500},
	{"Rawlins", "Carbon County", "Wyoming", "WY", "82301", 41.791, -107.238},
	{"Jackson", "Teton County", "Wyoming", "WY", "83001", 43.480, -110.762},
	{"Kemmerer", "Lincoln County", "Wyoming", "WY", "83101", 41.792, -110.537},
	{"Socorro", "Socorro County", "New Mexico", "NM", "87801", 34.058, -106.891},
	{"Truth or Consequences", "Sierra County", "New Mexico", "NM", "87901", 33.128, -107.253},
	{"Tucumcari", "Quay County", "New Mexico", "NM", "88401", 35.172, -103.725},
	{"Alamo", "Lincoln County", "Nevada", "NV", "89001", 37.365, -115.164},
	{"Ely", "White Pine County", "Nevada", "NV", "89301", 39.247, -114.889},
}

// RestrictedZIP3 lists the three-digit ZIP areas HIPAA Safe Harbor
// suppresses, as DESIGN.md names them; the generator places a few percent of
// patients in them.
var RestrictedZIP3 = []string{"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884", "890", "893"}

var foreignBirthplaces = []string{
	"Juarez, Chihuahua, MX", "Guadalajara, Jalisco, MX", "Manila, National Capital Region, PH",
	"Mumbai, Maharashtra, IN", "Shanghai, Shanghai, CN", "Santo Domingo, Distrito Nacional, DO",
	"San Salvador, San Salvador, SV", "Ho Chi Minh City, Ho Chi Minh, VN", "Port-au-Prince, Ouest, HT",
	"Lagos, Lagos, NG", "Seoul, Seoul, KR", "Kingston, Kingston, JM",
}

// Race and ethnicity codes (CDC race and ethnicity code set) for FHIR US Core.
var raceCodes = map[string][2]string{
	"white":    {"2106-3", "White"},
	"black":    {"2054-5", "Black or African American"},
	"asian":    {"2028-9", "Asian"},
	"native":   {"1002-5", "American Indian or Alaska Native"},
	"hawaiian": {"2076-8", "Native Hawaiian or Other Pacific Islander"},
	"other":    {"2131-1", "Other Race"},
}

var races = []string{"white", "black", "asian", "native", "hawaiian", "other"}
