// Package runbooks serves the runbooks that omen's default remediation
// table links to (runbook_url of an alert: <external URL>/docs/runbooks/<slug>).
// Each runbook is a short Markdown page embedded in the binary.
package runbooks
