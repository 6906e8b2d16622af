package training

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes the report as an aligned text table (one row per
// entity and the mean) for terminals.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "entity\tP-PA\tR-PA\tF1-PA\tP\tR\tF1\tF1-event\tAUC-PR\tHR@100\tHR@150\tNDCG@100\tNDCG@150\tHR-TP@100\tHR-TP@150\ttrain s\t")
	for _, e := range append(append([]EntityReport(nil), r.Entities...), r.Mean) {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t\n",
			e.Entity, e.PrecisionPA, e.RecallPA, e.F1PA, e.Precision, e.Recall, e.F1, e.F1Event, e.AUCPR,
			e.HitRate100, e.HitRate150, e.NDCG100, e.NDCG150, e.HitRateTP100, e.HitRateTP150, e.TrainSeconds)
	}
	return tw.Flush()
}
