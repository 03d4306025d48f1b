package scrub

// Dictionaries of common given and family names (a hand-made list of
// frequent US names across origins). Names that are also common English
// words in clinical text (Will, May, Grace, Hope, White, Brown, Young...) are
// left out: they cost more precision than they win recall, and the record's
// own names catch them for its patient.
const givenNames = `
James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony
Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan
Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander
Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Douglas Zachary Peter Kyle
Ethan Walter Noah Jeremy Christian Keith Roger Terry Gerald Harold Sean Austin Carl Arthur Lawrence
Dylan Jesse Jordan Bryan Billy Joe Bruce Gabriel Logan Albert Willie Alan Juan Wayne Elijah Randy Roy
Vincent Ralph Eugene Russell Bobby Mason Philip Louis Liam Oliver Lucas Mateo Santiago Diego Carlos
Luis Miguel Jorge Alejandro Javier Ricardo Fernando Pedro Manuel Rafael Ahmed Mohammed Muhammad Omar
Ali Hassan Yusuf Ibrahim Wei Jun Hiroshi Kenji Takeshi Raj Arjun Rahul Vikram Sanjay Amit Ivan Dmitri
Sergei Andrei Pierre Jean Luc Hans Klaus Giovanni Marco Luca Kwame Kofi Chinedu Oluwaseun Tariq
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Margaret
Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah Stephanie Rebecca
Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma Nicole Helen Samantha
Katherine Christine Debra Rachel Carolyn Janet Catherine Maria Heather Diane Ruth Julie Olivia Joyce
Virginia Victoria Kelly Lauren Christina Joan Evelyn Judith Megan Andrea Cheryl Hannah Jacqueline
Martha Gloria Teresa Ann Sara Madison Frances Kathryn Janice Jean Abigail Alice Judy Sophia Denise
Amber Doris Marilyn Danielle Beverly Isabella Theresa Diana Natalie Brittany Charlotte Marie Kayla
Alexis Lori Ava Mia Chloe Zoe Lucia Guadalupe Mei Priya Aaliyah Fatima Aisha Yuki Sakura Ananya Lakshmi
Sofia Valentina Camila Ximena Mariana Gabriela Daniela Carmen Rosa Elena Ana Isabel Ines Leticia
Svetlana Olga Natasha Ingrid Astrid Greta Francesca Giulia Chiara Amara Ngozi Abena Adwoa Mariam
Layla Noor Leila Yasmin Zainab Hye Min Ji Seo Hana Minh Linh Thi Anh Huong Nguyen Sumiko Liane Haruka
DeShawn Jamal Tyrone Darnell Terrell Malik Andre Marquis Deandre Jalen Darius Latoya Keisha Shanice Imani
Tamika Ebony Aaliyah Jasmine Destiny Precious Kiara Tiana Marcus Reginald Cedric Lamar Jermaine Travis
Cody Dustin Shane Chad Derek Troy Brett Colton Hunter Wyatt Caleb Owen Isaac Levi Connor Landon Gavin
Ella Avery Harper Scarlett Aria Penelope Layla Riley Nora Lily Eleanor Hazel Aurora Violet Stella Ellie
Brittany Courtney Crystal Tiffany Erin Kristen Lindsey Megan Allison Holly Misty Tara Wendy Tonya Stacy
`

const familyNames = `
Smith Johnson Williams Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson
Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson Harris Sanchez Clark Ramirez Lewis
Robinson Walker Allen Wright Scott Torres Nguyen Flores Adams Nelson Baker Rivera Campbell Mitchell
Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris
Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim
Cox Ward Richardson Watson Brooks Chavez Wood Bennett Gray Mendoza Ruiz Hughes Price Alvarez
Castillo Sanders Patel Myers Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Fisher
Henderson Coleman Simmons Patterson Jordan Reynolds Hamilton Graham Wallace Gonzales Ellis Stevens
Tran Mcdonald Kennedy Schmidt Mueller Schneider Fischer Weber Wagner Becker Hoffmann Schulz Rossi Russo
Ferrari Esposito Bianchi Romano Colombo Ricci Dubois Lefebvre Moreau Laurent Fournier Girard Ivanov
Petrov Sokolov Popov Kuznetsov Novak Kowalski Nowak Wisniewski Wang Li Zhang Liu Chen Yang Huang Zhao
Wu Zhou Xu Sun Ma Zhu Hu Guo Lin Tanaka Suzuki Takahashi Watanabe Yamamoto Nakamura Kobayashi Sato
Ito Park Choi Jung Kang Cho Yoon Sharma Singh Kumar Gupta Shah Mehta Reddy Rao Iyer Nair Khan Hussain
Rahman Ahmed Malik Haddad Nasser Mansour Okafor Okonkwo Mensah Owusu Boateng Adeyemi Diallo Traore
Kunze Larue Schaefer Kertzmann Hahn Wiza Bode Gleason Kuhlman Hermiston Considine Bernier Lind
Okuneva Jacobs Wolff Hickle Kirlin Weimann Cummerata Ritchie Pfannerstill Rempel Stiedemann Oberbrunner
Mraz Dickinson Kautzer Feil Gerlach Marvin Rohan Wunsch Stracke Nitzsche Lockman Veum Halvorson
`

// ambiguousNames are names that are also English words; they count as
// names only capitalized and not at the start of a sentence or line.
const ambiguousNames = `
Mark Will Grace Hope Joy Rose June April May Faith Dawn Bill Art Guy Summer Autumn Destiny Chance Frank
Young White Brown Green Black Long King Hill Bell Wood Cook Price Gray Grey Reed Ward Cox Mann Park Lee
James Rice Stone Fox Hunt Lane Moss Rich Holly Iris Ivy Lily Daisy Pearl Ruby Amber Crystal Angel Sky
`

// stopWords are capitalized words that begin sentences or headings in notes
// and are never taken for a family name after a given name.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range []string{"the", "patient", "patients", "he", "she", "they", "is", "was", "has", "had", "and",
		"with", "history", "plan", "reports", "presents", "denies", "states", "was", "who", "on", "in", "at",
		"for", "of", "to", "a", "an", "no", "not", "per", "md", "do", "rn", "np", "pa", "dr", "mr", "mrs", "ms",
		"allergies", "medications", "assessment", "complaint", "chief", "social", "family", "diagnosis",
		"follow", "called", "seen", "visit", "today", "hospital", "clinic", "center", "medical", "health",
		"emergency", "department", "street", "avenue", "road", "county", "city", "mg", "ml", "tablet"} {
		m[w] = true
	}
	return m
}()
