package conformance

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is one rule's verdict.
type Result struct {
	Rule string `json:"rule"`
	// Result is pass, fail or skip (the rule does not apply: a service
	// without compensations).
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Verdicts of a rule.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Report is what a run found.
type Report struct {
	Service string   `json:"service"`
	Results []Result `json:"results"`
}

// Passed reports whether no rule failed.
func (r Report) Passed() bool { return len(r.Failed()) == 0 }

// Failed returns the rules that failed.
func (r Report) Failed() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Result == Fail {
			out = append(out, res)
		}
	}
	return out
}

// WriteText writes the report as a table.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RULE\tRESULT\tDETAIL\n")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", res.Rule, res.Result, res.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "passes every rule"
	if n := len(r.Failed()); n > 0 {
		verdict = fmt.Sprintf("fails %d of %d rules", n, len(r.Results))
	}
	_, err := fmt.Fprintf(w, "%s %s\n", r.Service, verdict)
	return err
}

func result(rule string, err error, detail string) Result {
	if err != nil {
		return Result{Rule: rule, Result: Fail, Detail: oneLine(err.Error())}
	}
	return Result{Rule: rule, Result: Pass, Detail: oneLine(detail)}
}

// oneLine keeps a table row on one line: a joined error's lines become
// clauses.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
