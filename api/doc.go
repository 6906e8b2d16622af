// Package api serves omen's explanation API: JSON over HTTP under /api/v1,
// in the style of Prometheus' HTTP API (a {"status":"success","data":…}
// envelope; errors as {"status":"error","errorType":"bad_data","error":"…"}).
// A path under /api/ that no route takes (an unknown route, an entity name
// with an unescaped "/") answers the same envelope: 404 not_found, or 405
// method_not_allowed with an Allow header listing the methods the path
// serves (JSONErrors; not the model routes' that only answer 400 no model
// version: DELETE /api/v1/models, POST /api/v1/models/promote).
//
// # Routes
//
//	GET       /api/v1/predictions                    current predictions (latest per entity), or every prediction in [from, to]
//	GET       /api/v1/alerts                         alerts
//	GET       /api/v1/explanations/{id}              the explanation of an alert (by fingerprint) or a prediction (by id)
//	POST      /api/v1/entities/{entity}/explain      explain the entity's latest window now, and store it
//	                                                 (any other method: 405, Allow: POST, as a GET must change nothing;
//	                                                 at most Options.MaxConcurrentExplains at once with the UI's,
//	                                                 else 503 busy; busy and timeout carry Retry-After,
//	                                                 Options.ExplainTimeout in seconds)
//	GET       /api/v1/entities/{entity}/dependencies the entity's dependency neighbourhood
//	GET       /api/v1/model                          the active model
//	GET       /api/v1/openapi.json                   the OpenAPI 3 document of these routes
//
// With Options.Models, the model registry:
//
//	GET       /api/v1/models                         the registered versions, newest first
//	POST      /api/v1/models                         register a model file (the body, application/octet-stream);
//	                                                 promote=true also makes it active, version=NAME names it
//	POST      /api/v1/models/{version}/promote       make a registered version the active model
//	POST      /api/v1/models/rollback                re-activate the previously active model
//	DELETE    /api/v1/models/{version}               delete a registered version that is not active
//
// With Options.History, the stored feature history (omen train --url):
//
//	GET       /api/v1/history/schema                 the current feature schema, with the daemon's step and alert rule
//	GET       /api/v1/history/schemas                every recorded schema version, oldest first
//	GET       /api/v1/history/entities               the stored entities in ID order (limit, after)
//	GET       /api/v1/history/vectors                one entity's vectors in [from, to] as newline-delimited JSON
//
// With Options.Backup, a backup of the daemon's store (omen store backup --url):
//
//	POST      /api/v1/store/backup                   stream a backup of the store (BackupContentType, chunked;
//	                                                 store.Backup: every record as of one moment, in omen's
//	                                                 backup format, whose trailer says it is whole); one at a
//	                                                 time, else 503 busy with Retry-After; a backup that fails
//	                                                 once begun aborts the connection; one canceled before its
//	                                                 first byte answers 503 unavailable (Options.Stop
//	                                                 ended) or 499 (the client went away). POST, as a backup
//	                                                 reads the whole store, which no cross-site request may start
//
// Path parameters are URL path segments: escape "/" in entity names and
// prediction ids as %2F (url.PathEscape). List filters: entity=ID,
// match[LABEL]=VALUE (one per label, all must match), from and to (RFC 3339
// or Unix seconds; the API writes times in milliseconds, and a number
// read as seconds after the year 9999 is refused as one), limit; alerts
// also take state=pending|firing|resolved. No parameter takes a list: one
// given twice answers 400 bad_data on every route (CheckQueryOnce). A
// range without to has no upper bound. Every time the API shows (a prediction's t, an alert's active_at,
// resolved_at, escalated_at and failure_began_at) is a data time, the t of
// the step it was computed at: in production it lags the wall clock by
// about a step, in omen demo it runs ahead of it.
// A list holds at most limit items (at most Options.MaxLimit, 10000;
// default 10000, but 1000, Options.RangeLimit, for a range query of
// predictions: from or to given); a list cut at its limit says so in the
// envelope's "warnings" (as Prometheus' API does). Predictions are listed
// by entity, then newest first; the warning of a cut list names the next
// page, after=ID (the last listed prediction's id): the same query with
// after=ID lists the predictions after it.
//
// # Backend
//
// Handlers read everything through Backend (PredictionReader, Explainer,
// ModelDescriber and DependencyReader), which the daemon adapts to its
// store, scorer, explainer and alert manager; MemBackend is an
// in-memory implementation for tests and the UI's development. Explanation
// decodes the JSON document the daemon stores per prediction
// (DecodeExplanation).
//
// # Security
//
// A bearer token (Options.TokenFile) is required whenever the listen address
// is not a loopback address: New refuses to build without one. When a token is
// set, every API and UI request must carry it as "Authorization: Bearer TOKEN"
// (or HTTP Basic auth with the token as password, so that a browser can open
// the UI); it is compared in constant time. A request without it answers
// 401: to a browser (a path under /ui/, or an Accept naming text/html) with
// a Basic challenge, so that the browser asks for a user name (any) and
// password (the token), and a short HTML page saying so; to an API client
// with a Bearer challenge and the JSON error. TLSConfig loads a certificate and
// key for HTTPS and reloads them when the files change.
//
// # Client
//
// Client is a small Go client of the API; WriteTable prints an explanation
// as the ranked table of `omen explain`.
package api
