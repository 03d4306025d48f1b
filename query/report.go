package query

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteSignals writes signals as a table, CSV, JSON (an array) or JSON
// lines.
func WriteSignals(w io.Writer, sig []Signal, format string) error {
	head := []string{"period", "drug", "drug_name", "event", "event_name", "a", "b", "c", "d", "prr", "prr_low", "prr_high",
		"chi2", "ror", "ror_low", "ror_high", "ic", "ic025", "evans", "ema", "ror025", "ic025_flag", "lower_bound", "sites_suppressed"}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }
	row := func(s Signal) []string {
		return []string{s.Period, s.Drug, s.DrugName, s.Event, s.EventName,
			strconv.FormatInt(s.A, 10), strconv.FormatInt(s.B, 10), strconv.FormatInt(s.C, 10), strconv.FormatInt(s.D, 10),
			f(s.PRR), f(s.PRRLow), f(s.PRRHigh), f(s.ChiSq), f(s.ROR), f(s.RORLow), f(s.RORHigh), f(s.IC), f(s.IC025),
			strconv.FormatBool(s.Flags.Evans), strconv.FormatBool(s.Flags.EMA), strconv.FormatBool(s.Flags.ROR025),
			strconv.FormatBool(s.Flags.IC025), strconv.FormatBool(s.LowerBound), strconv.Itoa(s.SitesSuppressed)}
	}
	switch format {
	case FormatJSON:
		if sig == nil {
			sig = []Signal{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sig)
	case FormatJSONL:
		enc := json.NewEncoder(w)
		for _, s := range sig {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	case FormatCSV:
		cw := csv.NewWriter(w)
		cw.Write(head)
		for _, s := range sig {
			cw.Write(row(s))
		}
		cw.Flush()
		return cw.Error()
	case FormatTable, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		byPeriod := slices.ContainsFunc(sig, func(s Signal) bool { return s.Period != "" })
		if byPeriod {
			fmt.Fprint(tw, "PERIOD\t")
		}
		fmt.Fprintln(tw, "DRUG\tEVENT\ta\tb\tc\td\tPRR (95% CI)\tχ²\tROR (95% CI)\tIC (IC025)\tFLAGS")
		for _, s := range sig {
			var flags []string
			for _, fl := range []struct {
				on   bool
				name string
			}{{s.Flags.Evans, "Evans"}, {s.Flags.EMA, "EMA"}, {s.Flags.ROR025, "ROR025"}, {s.Flags.IC025, "IC025"}} {
				if fl.on {
					flags = append(flags, fl.name)
				}
			}
			a := strconv.FormatInt(s.A, 10)
			if s.LowerBound {
				a = fmt.Sprintf("≥%s (%d sites suppressed)", a, s.SitesSuppressed)
			}
			if byPeriod {
				fmt.Fprint(tw, s.Period+"\t")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.2f (%.2f–%.2f)\t%.1f\t%.2f (%.2f–%.2f)\t%.2f (%.2f)\t%s\n",
				label(s.Drug, s.DrugName), label(s.Event, s.EventName), a, s.B, s.C, s.D,
				s.PRR, s.PRRLow, s.PRRHigh, s.ChiSq, s.ROR, s.RORLow, s.RORHigh, s.IC, s.IC025, strings.Join(flags, ","))
		}
		return tw.Flush()
	}
	return fmt.Errorf("query: unknown format %q for signals (use table, csv, json or jsonl)", format)
}

func label(code, name string) string {
	if name == "" {
		return code
	}
	return cell(code + " " + name)
}

// WriteCombined writes a combined aggregate as a table, CSV or JSON.
func WriteCombined(w io.Writer, c Combined, format string) error {
	switch format {
	case FormatJSON, FormatJSONL:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	case FormatCSV:
		cw := csv.NewWriter(w)
		cw.Write(append(append([]string{}, c.GroupBy...), "value", "lower_bound", "suppressed_by"))
		for _, x := range c.Cells {
			cw.Write(append(append([]string{}, x.Group...), strconv.FormatInt(x.Value, 10), strconv.FormatBool(x.LowerBound), strings.Join(x.SuppressedBy, " ")))
		}
		cw.Flush()
		return cw.Error()
	case FormatTable, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(c.GroupBy, "\t"))+"\tCOUNT")
		for _, x := range c.Cells {
			v := strconv.FormatInt(x.Value, 10)
			if x.LowerBound {
				v = "≥" + v + " (suppressed by " + strings.Join(x.SuppressedBy, ", ") + ")"
			}
			fmt.Fprintln(tw, strings.Join(x.Group, "\t")+"\t"+v)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "answered: %s\n", strings.Join(c.Answered, ", "))
		if len(c.Missing) > 0 {
			fmt.Fprintf(w, "no answer in time: %s\n", strings.Join(c.Missing, ", "))
		}
		for _, r := range c.Rejected {
			fmt.Fprintf(w, "rejected: %s\n", r)
		}
		return nil
	}
	return fmt.Errorf("query: unknown format %q for aggregates (use table, csv or json)", format)
}
