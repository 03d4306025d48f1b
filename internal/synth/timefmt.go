package synth

// Dates are days since 1970-01-01 (UTC) and times are seconds since then.
// These helpers format them without time.Time, which keeps the writers fast.

const secondsPerDay = 86400

// daysFromCivil returns the day number of y-m-d (proleptic Gregorian).
func daysFromCivil(y, m, d int) int32 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// civil returns the year, month and day of day number z.
func civil(z int32) (y, m, d int) {
	zz := int(z) + 719468
	era := zz / 146097
	if zz < 0 && zz%146097 != 0 {
		era = (zz - 146096) / 146097
	}
	doe := zz - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendDate appends YYYY-MM-DD.
func appendDate(b []byte, day int32) []byte {
	y, m, d := civil(day)
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	return append2(b, d)
}

// appendTime appends YYYY-MM-DDTHH:MM:SSZ, as Synthea's CSV and our FHIR write.
func appendTime(b []byte, t int64) []byte {
	day := t / secondsPerDay
	sec := t - day*secondsPerDay
	if sec < 0 {
		day--
		sec += secondsPerDay
	}
	b = appendDate(b, int32(day))
	b = append(b, 'T')
	b = append2(b, int(sec/3600))
	b = append(b, ':')
	b = append2(b, int(sec/60%60))
	b = append(b, ':')
	b = append2(b, int(sec%60))
	return append(b, 'Z')
}

func dayOf(t int64) int32 {
	if t < 0 {
		return int32((t - secondsPerDay + 1) / secondsPerDay)
	}
	return int32(t / secondsPerDay)
}
