// Package alert turns omen's per-step failure predictions into Alertmanager
// alerts with Prometheus-compatible semantics, and delivers them without
// losing any.
//
// # Pipeline
//
// (*Manager).Process is called once per evaluation step with every scored
// entity. Its stages are small and run in order:
//
//  1. threshold with hysteresis: an entity becomes pending when its failure
//     probability reaches the model's threshold, fires when it has stayed at
//     or over the threshold for Options.For consecutive steps, and resolves
//     when it has stayed below Options.ResolveRatio × threshold for
//     Options.ResolveFor consecutive steps (default 1: the first step
//     below), at the last of them (or when the entity has had no
//     prediction for more than Options.MissingSteps steps; an entity
//     passed as Prediction.Unscored, present but not scored, keeps its
//     state). A step below the threshold resets a pending entity, a step
//     at or over the resolve threshold the count of a firing one. Process
//     must be called at every step, also with no predictions, for the
//     missing steps of vanished entities to count.
//  2. deduplication: one alert per entity, keyed by the fingerprint of the
//     entity's labels; several predictions for one entity in one step
//     collapse to the newest.
//  3. explanation: when an alert fires, the Explainer is asked once for the
//     top causes of the prediction and the remediation table picks the
//     recommended action from the top cause.
//  4. route: an alert is due for sending when it fired or resolved since it
//     was last sent, or when Options.ResendDelay has passed since then on
//     the wall clock (as Prometheus' rule manager does); resolved alerts are re-sent for
//     Options.ResolvedRetention (15m) after resolution. A firing alert whose
//     entity lacks a prediction is re-sent only after half its endsAt lead
//     (it may resolve within a few steps, and the idle steps after a stall
//     run at once: no firing resend just before the resolution).
//  5. notify: the due alerts of a step are written, as one Alertmanager API
//     v2 payload, to the durable outbox of the store, pending for every
//     configured Alertmanager; each Alertmanager has its own delivery loop
//     (Run) with retries, capped exponential backoff and timeouts, and an
//     item is removed from a target's queue only after that Alertmanager
//     accepted it (2xx), or rejected it with a 4xx other than 429
//     (not retryable: logged and counted as failed; a rejected POST of
//     several alerts is re-sent alert by alert, so that only the bad one is
//     dropped); 401, 403 and 407 refuse omen's credentials, not the
//     alerts, and are retried until they are mended. A POST that fails (to be retried) is logged at WARN when
//     that Alertmanager starts failing, then at most once a minute while
//     it goes on (since when, how many POSTs failed; at debug level in
//     between), and the first answer after is logged at INFO (how long it
//     failed, the alerts delivered); an Alertmanager a reload removes
//     while it fails is logged once at INFO as removed while failing (how
//     long, how many attempts). An outbox operation of the delivery loop
//     that the store refuses (reading, compacting, acknowledging items:
//     its disk below half the reserve) is logged so too, at ERROR, and
//     at INFO when it works again. A POST carries every pending item,
//     collapsed to the newest version of each alert (a resolution
//     supersedes the firing versions
//     before it; a resolution followed by a re-firing keeps both, in
//     order); beyond Options.MaxBatch pending items (an outage) a target's
//     items are compacted into one, so the backlog stays bounded and
//     recovery sends each alert's current state once. The compacted item
//     is enqueued at compaction time (the store's retention goes by the
//     enqueue time) and records the time of the oldest item it replaces
//     (store.OutboxItem.Since), which
//     omen_notifications_oldest_pending_age_seconds reports.
//
// Run also re-sends the due alerts between steps (every ResendDelay/2 it
// sends those whose resend delay has passed on the wall clock): when the
// steps are further apart than the resend delay (data time running slower
// than the wall clock, or a data stall: the caller steps only when data
// arrives), an alert that still fires gets a fresh endsAt before
// Alertmanager times it out; resolution still follows the rules above.
// Reconfigure applies a configuration reload (thresholds, resend delay,
// URLs, remediations, the set of Alertmanagers) keeping the alert states.
//
// Alertmanager URLs may carry basic-auth credentials
// (http://user:pass@host:9093); the password is redacted
// (url.URL.Redacted) in metric labels, logs and errors. An Alertmanager
// secured otherwise (TLS with a private CA, a client certificate,
// credentials read from files) gets its own HTTP client (Options.Clients,
// which Reconfigure may change).
//
// The alert state (pending/firing/resolved, startsAt, resolve time, last
// send, the hysteresis counters, severity and explanation) is persisted in
// the store on every change, so a restarted omen resumes where it stopped:
// firing alerts keep firing with their original startsAt, resolved alerts
// keep being re-sent as resolved and are never re-fired, and undelivered
// notifications are delivered.
//
// # Labels and annotations
//
// Labels are stable and low-cardinality: alertname
// ("ModuleLoadFailurePredicted"), the entity's labels as given in
// Prediction.Labels (e.g. namespace, pod or module, service; an "entity"
// label holding Prediction.Entity when Labels is empty; names made valid
// for Alertmanager, e.g. app.kubernetes.io/name → app_kubernetes_io_name;
// of two labels that become the same name, the already valid one wins,
// else the one whose name sorts first)
// and severity.
// Severity is "critical" when the probability at fire time is at least
// Options.CriticalProbability (0.9), otherwise "warning". A firing warning
// alert escalates: at the first step its probability reaches
// CriticalProbability it becomes critical, and stays critical until it
// resolves (a lower probability, or a higher CriticalProbability after a
// reload, does not make it warning again), so severity cannot flap.
// Alertmanager identifies an alert by its label set, so an escalation
// ends one alert and starts another: the step's notification carries the
// warning alert resolved (endsAt the escalation step; its summary starts
// with "Escalated to critical:", its description says it fires on as the
// critical one) and the critical alert firing (startsAt the escalation
// step); the warning version is re-sent with the alert for as long as it
// fires critical and for ResolvedRetention after it resolved. In omen the alert stays one alert: Alert.Fingerprint
// (the fingerprint of the labels it fired with), its links, explanation,
// action and runbook do not change, Alert.StartsAt stays the step it fired
// at and Alert.EscalatedAt is the escalation step; Alert.EscalatedFingerprint
// is the critical alert's fingerprint, under which Alertmanager knows it
// from then on (omen's API lists the alert under it, and resolves both). An Alertmanager inhibit
// rule (critical silences the warning of the same entity labels) keeps
// the warning's resolution from being notified while the critical alert
// fires; re-sent until after the critical alert resolved, it is notified
// then.
// Everything that changes between sends (probability, causes, links) is an
// annotation: summary, description, probability, horizon, top_causes,
// recommended_action, runbook_url, explanation_url (the firing's page in
// omen's UI, as generatorURL: it shows the explanation) and
// explanation_api_url (the explanation as JSON:
// <ExternalURL>/api/v1/explanations/<prediction id>; absent without one).
// The annotations are
// rendered at every send: probability and the description's probability
// and threshold are the newest prediction's (the alert's state now), while
// top_causes, recommended_action, runbook_url and the explanation links are those
// of the prediction the alert fired on (Alert.PredictionID, whose
// probability is Alert.FiredProbability); when the two differ, the
// description says "It fired at …". The description renders probabilities
// and thresholds as percents with 2 decimals (99.47%), more when two
// different values would render the same. A resolved alert's
// summary and description start with "Resolved:", the description saying
// why (the probability fell below ResolveRatio × threshold, or the entity
// had no prediction for more than MissingSteps steps) and with what
// probability, as recorded when it resolved: later steps (the entity gone,
// or over the threshold again without having fired yet) do not rewrite it.
// When the entity's failure labels were first set while the alert fired
// (Prediction.Failing, at the step it resolves or before: the predicted
// failure began, and the model's probability collapses) and still at one
// of its last ResolveFor+1 steps seen, the resolved summary and
// description start with "Resolved, failure began:" and name that step
// (Alert.FailureBeganAt) rather than saying omen no longer predicts a
// failure (outcome failure_began); when not set at those steps, the
// failure is over ("Resolved, failure ended:", outcome failure_ended).
// Labels set while the alert was pending, or at the step it fired, mean
// it fired during the failure, not ahead of it ("Resolved, fired during
// failure:", outcome fired_during_failure; FailureBeganAt is the first
// such step). Otherwise the outcome annotation of a resolved alert is
// no_longer_predicted or entity_gone. omen's own links
// (generatorURL, the explanation links unless the Explainer gave a URL, and a
// relative runbook such as the built-in ones) are rendered with the
// ExternalURL of the time they are sent: after a reload changing it, the
// next send of every alert carries the new one. The links name the
// firing, not only the alert: generatorURL is
// <ExternalURL>/ui/alerts/<prediction id>, the prediction the alert fired
// on (Alert.PredictionID, the one explained, under which the explanation
// is stored; path-escaped), so that when an alert resolves and fires
// again with the same labels, on another prediction, an old
// notification's links keep showing the explanation of the firing it
// announced, also after the alert is gone (an escalated alert's links
// keep naming its firing). An alert without an explanation (Explain
// failed, no Explainer) links to <ExternalURL>/ui/alerts/<fingerprint>,
// the Prometheus fingerprint (model.LabelSet.Fingerprint) of the labels
// it fired with (Alert.Fingerprint), which omen's API and UI resolve to
// the alert's latest firing (the old form of the links, which keeps
// working).
//
// Manager.Pending lists the pending alerts (over the threshold for fewer
// than For steps; never sent; Manager.Alerts lists the others): their labels have no severity yet
// (their fingerprint is not the one they fire under), their StartsAt is
// the step they started pending at, their annotations (summary and
// description starting with "Pending:", probability, horizon) show the
// newest prediction, and they have no causes and no links.
//
// Times: Process's t is the step's time, which the caller chooses (omen
// passes the data time of the step, so that an alert's times match its
// predictions'); the states' times (Alert.StartsAt, ResolvedAt, LastSent:
// the step it was last sent at) and the retention of resolved alerts
// follow it. Alertmanager judges endsAt by its own clock, the wall clock
// (Options.Now), and so does the notification bookkeeping: the resend
// delay counts from the wall time of the last send (persisted with the
// state: a restart does not re-send what was sent just before it), and
// endsAt of a firing alert is the wall clock + 4 × max(EvalInterval,
// ResendDelay), whatever the data's pace (a step time behind the wall
// clock, a catch-up after a restart, does not send alerts Alertmanager
// reads as already resolved; one ahead, omen demo, does not keep a stopped
// omen's alerts active in Alertmanager for hours). startsAt is the step at
// which the alert fired; endsAt of a resolved alert is the step at which
// it resolved. A startsAt or resolved
// endsAt ahead of the wall clock (a simulation running faster than real
// time) is sent as the wall clock's time: Alertmanager would keep a
// resolution ahead of its clock active until then.
//
// # Metrics
//
// omen_alerts{state}, omen_notifications_total{alertmanager},
// omen_notifications_failed_total{alertmanager},
// omen_notification_latency_seconds{alertmanager},
// omen_notifications_queue_length{alertmanager} (bounded by compaction:
// at most MaxBatch+1), omen_notifications_oldest_pending_age_seconds
// {alertmanager} (how long the oldest notification an Alertmanager has not
// accepted has waited, 0 when none: it grows for as long as alerts do not
// get through, through compactions and restarts; the example rule
// OmenNotificationsUndelivered in docs/prometheus-rules.yml fires on it),
// omen_alert_explain_errors_total, and omen_alert_cause_share{entity,
// severity, cause, kind, rank} (the ranked causes of the firing alerts, for
// dashboards: see docs/grafana/omen.json).
//
// # Concurrency
//
// A Manager is safe for concurrent use. Process calls are serialised; Run
// delivers concurrently with Process. The alerts firing at a step are
// explained without the Manager's lock (concurrently, up to 4 at once),
// on copies of the states: Alerts, resends, deliveries and reloads do not
// wait for the explanations, and see the last step's alerts until the
// step is applied as a whole (a reload or Close in between is accounted
// for: the step is applied under the configuration of that moment, or not
// at all after Close or when Process's context is cancelled meanwhile: the
// alerts then fire, explained, at the next step). Close stops Run and makes later
// Process calls fail; the Store is the caller's and is not closed.
package alert
