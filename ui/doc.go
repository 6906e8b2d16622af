// Package ui is omen's server-rendered web UI: html/template pages with
// inline SVG charts and inline CSS, no JavaScript and no external assets (a
// Content-Security-Policy forbids loading anything from elsewhere). It reads
// everything through api.Backend and is mounted under /ui/ by the API
// (api.Options.UI), behind the API's authentication.
//
// Pages:
//
//	/ui/                         overview: fleet heat map (entities × feature groups, coloured by
//	                             attribution φ: red pushes toward failure, blue away), current alerts,
//	                             the model; ?match[LABEL]=VALUE filters the fleet
//	/ui/entities/{entity}        predictions over time (SVG polyline with the threshold line), the
//	                             entity's alerts and latest explanation (?explain=now explains it now);
//	                             a service name lists the service's entities
//	/ui/alerts/{id}              an alert (fingerprint) or prediction (id): SHAP waterfall plot from
//	                             the baseline to f(x), ranked causes with links, the window's metrics
//	                             as sparklines, the dependency neighbourhood as a graph
//
// Numbers are marked in the DOM with data attributes holding the exact
// values of the API's JSON (strconv 'g' formatting): data-phi, data-share,
// data-baseline, data-value, data-prob, data-threshold, data-evidence, so
// tests and scripts can compare the page with the API.
package ui
