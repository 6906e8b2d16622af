// Package ui is omen's server-rendered web UI: html/template pages with
// inline SVG charts and inline CSS, no JavaScript and no external assets (a
// Content-Security-Policy forbids loading anything from elsewhere). It reads
// everything through api.Backend and is mounted under /ui/ by the API
// (api.Options.UI), behind the API's authentication.
//
// Pages:
//
//	/ui/                         overview: fleet heat map (entities × feature groups, coloured by
//	                             attribution φ: red pushes toward failure, blue away; each row says
//	                             the time of the prediction explained), current alerts,
//	                             the model; ?match[LABEL]=VALUE filters the fleet
//	/ui/entities/{entity}        predictions over time (SVG polyline with the threshold line), the
//	                             entity's alerts and latest explanation with the time of the prediction
//	                             it explains; its "explain now" button POSTs to the page (a form: the
//	                             API's cross-origin check covers it), which explains the latest window
//	                             within the explain gate it shares with the API (503 when busy or out
//	                             of time, with the API's Retry-After: ExplainGate.RetryAfter) and
//	                             redirects to ?explained=PREDICTION_ID, the page showing what it
//	                             stored (a reload explains nothing again); a service name lists the
//	                             service's entities, mapped as the dependency graph maps them
//	                             (api.ServiceOf: a service, app, app_kubernetes_io_name or module label,
//	                             else the pod name without its Deployment suffixes), by name: of more
//	                             than Options.ServiceEntities (200) current ones the likeliest to fail,
//	                             of more than 50 gone ones the 50 last seen, with their counts and a
//	                             link to ?all=1 (them all); a name mapping to nothing is a 404 saying
//	                             so, with a link to the API's dependency route when the graph holds the
//	                             name as a node, to its service's page when it is a known entity of one
//	/ui/alerts/{id}              an alert (fingerprint) or prediction (id): SHAP waterfall plot from
//	                             the baseline to f(x), ranked causes with links, the window's metrics
//	                             as sparklines (the waterfall draws the 12 groups of largest |φ| and
//	                             sums the rest in one bar), the dependency neighbourhood as a graph
//	                             (read live when the page loads, labelled so: not as of the alert);
//	                             a firing alert's page links to it in Alertmanager's UI
//	                             (Options.Alertmanager: its alert list filtered to the alert's labels)
//
// The overview, the service pages and the alert page's dependency graph
// weigh every entity's latest prediction: a Backend that keeps them in
// memory (LatestScanner: api.StoreBackend, over store.Store.EachLatest)
// spares them a listing of every entity kept within retention at each
// view (docs/PERFORMANCE.md, API and UI with many stored entities).
//
// An anomaly score is shown against the anomaly threshold of the model
// version that scored it: a Backend that describes any registered version
// (ModelVersionDescriber: the daemon's) gives it for versions other than
// the active one; unknown, none is shown.
//
// The pages fit a phone's width (below 640 px, a stylesheet of its own):
// tables stack their columns, the waterfall and the probability chart are
// drawn in narrow layouts of their own (#waterfall-narrow, #chart-narrow,
// without data attributes: the wide ones carry them); the heat map and
// the dependency graph keep their size at any width (shrunk to a phone's,
// their texts were unreadable) and scroll sideways inside their box
// (.plot-scroll), which fits the width, with a hint saying so below
// 640 px. The heat map's entity names take the width of the longest shown
// (60 to 296 px; a name of more than 44 characters is cut with an
// ellipsis, whole in its tooltip), so that short names leave a phone's
// first screen to the cells. Text in main wraps anywhere (long entity
// names, IDs and URLs), but state badges (.badge), the alert table's
// links (.nowrap, a.pending-entity), numbers (td.num) and column names
// never break inside a word, at any width.
//
// Numbers are marked in the DOM with data attributes holding the exact
// values of the API's JSON (strconv 'g' formatting): data-phi, data-share,
// data-baseline, data-value, data-prob, data-threshold, data-evidence, so
// tests and scripts can compare the page with the API.
package ui
