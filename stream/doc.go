// Package stream holds omen's ingest sources: a NATS JetStream consumer
// (NATSConsumer), a Prometheus remote-write 1.0 receiver
// (RemoteWriteReceiver) and a Prometheus query poller (Poller). Payload
// decoding lives in package stream/decode; an embedded NATS server for the
// single-binary setup in stream/natsembed.
//
// # Delivery contract
//
// Every source decodes what it receives into telemetry.Batch values and
// hands them to an Appender. It acknowledges upstream — a JetStream Ack, an
// HTTP 204 — only after Append has returned nil, that is after the store
// has committed (fsync'd) the batches. Delivery is at-least-once; it is
// made idempotent by (Batch.Source, Batch.Seq): the JetStream consumer sets
// Seq to the message's stream sequence, so a message redelivered after a
// lost ack or a crash is skipped by the store. The store must treat Seq as
// a set member, not as a high-water mark: after a Nak, message 5 can be
// redelivered after 6–10 were stored. Remote-write and poller batches have
// Seq 0 (no deduplication); their duplicates carry identical series,
// timestamps and values.
//
// Errors from Append that wrap ErrInvalid are permanent: the NATS consumer
// dead-letters the offending messages (it retries the fetch's messages one
// by one to find them), the receiver answers 400. Every other error is
// retryable: the consumer holds the messages not stored (marking them in
// progress, so that JetStream does not redeliver them) and appends them
// again after a pause, with its pull paused, until the store takes them,
// so that it stores the stream's messages in order (nacking them had the
// next messages, pulled already, stored before their redelivery); the
// receiver answers 503 so that Prometheus retries.
//
// # NATS JetStream
//
// NATSConsumer creates, when missing, the stream OMEN (subjects
// omen.metrics, omen.metrics.>, omen.events, omen.events.>, file storage,
// MaxAge retention and an optional MaxBytes bound that drops the oldest
// messages), the dead-letter stream OMEN_DLQ (subject omen.dlq, kept 7
// days by default, without a size bound unless NATSOptions.DLQMaxBytes
// sets one, the oldest dropped first: NATSOptions.DLQMaxAge,
// DLQMaxBytes; JetStream reserves a size bound in its file store, and a
// bound it has no room for fails Setup with an error naming the
// configuration key to lower) and a durable pull consumer
// (default "omen", AckExplicit). An existing stream OMEN gets the
// configured retention and bound (MaxAge, MaxBytes) at start, with a WARN
// naming each changed one, and keeps its other settings (subjects,
// replicas, policies) and its messages, up to the new bounds; an existing
// OMEN_DLQ is updated at start to the configured dead-letter subject,
// retention and bound, keeping its messages. While Run runs,
// omen_nats_consumer_pending_messages (from the consumer's info, every
// 15s) and omen_nats_consumer_last_contact_timestamp_seconds (the last
// time the pull was seen working) show a stalled consumer, which the
// shipped OmenNATSConsumerStalled rule alerts on; while the store refuses
// batches (disk full) the pull pauses between retries, the pause shown in
// omen_nats_consumer_backoff_seconds and counted in
// omen_nats_consumer_backoffs_total. The dead-letter subject has no wildcards and lies outside the stream's
// subjects (JetStream refuses two streams capturing one subject), which
// NewNATSConsumer and "omen check config" check. The payload format of each message comes from its
// Content-Type header or the subject's format token (see decode.Detect):
// omen.metrics.influx, omen.metrics.prom, omen.metrics.json,
// omen.events.k8s, omen.events.module, ...; a message without the header
// (Telegraf's outputs.nats sends none) takes the subject's format, and
// so does one whose Content-Type names no format omen reads when the
// subject names one (omen.metrics.influx, omen.events); on omen.metrics
// without a format token such a Content-Type (decode.ContentTypes lists
// the recognised ones) is dead-lettered as unknown_format naming it.
//
// Messages are pulled continuously and processed in batches of up to
// FetchBatch messages (cut FetchWait after the first one); all decoded
// messages of a batch go to one Append call, one telemetry.Batch per
// message. Decoding the next batch overlaps the Append of the previous one;
// a consumer's Append calls are sequential and in stream order. A message whose payload is unusable (nothing decodable, too
// large, unknown format) is poison: it is published to omen.dlq with
// headers Omen-Dlq-Reason, Omen-Dlq-Error, Omen-Dlq-Subject,
// Omen-Dlq-Stream, Omen-Dlq-Sequence and Omen-Dlq-Consumer (the original
// payload and headers kept, except Nats-Msg-Id), and terminated only
// once OMEN_DLQ has stored it; the rest of the batch is stored normally.
// The dead letter's Nats-Msg-Id names the original message (the batch
// Source and its stream sequence), so that OMEN_DLQ stores it once when
// a publish whose PubAck was lost is repeated at the message's
// redelivery: an OMEN_DLQ that omen creates has a duplicate window of
// 2 min, or twice the AckWait or the NAK delay's ceiling when longer, at
// most DLQMaxAge (an existing one keeps its own). When the publish finds
// no stream capturing the dead-letter subject (OMEN_DLQ deleted while omen
// runs), the consumer creates OMEN_DLQ again, as Setup does, 2 s later
// (see streamRecreateDelay: created at once, it could lose its files to
// the old one's deletion), and publishes once more; a publish that still
// fails nacks the message, to
// be redelivered after NakDelay, doubled with each further failure in a
// row up to 30s, counted in omen_ingest_errors_total{reason=
// "dead_letter_failed"} (dead_letter counts only dead letters stored)
// and warned about at the first failure of a run, then once a minute.
// Until that delay has passed, the other poison messages are nacked with
// it, and counted so, without a publish of their own; the first one after
// it tries OMEN_DLQ again. (Each publish waited for its PubAck, up to 5 s,
// in the decoding loop: a batch of poison messages while OMEN_DLQ did not
// answer held the batch's other messages and the pull for minutes.)
// Nacking rather than holding the message, as the store's refusals are
// held (below), is deliberate: a poison message stores nothing but its
// marker, so its redelivery after newer messages brings no sample late,
// while holding it would pause the pull and turn a dead-letter outage
// into an ingest outage; MaxDeliver is unbounded, so it is not lost.
// Lines rejected inside an otherwise good message are counted, not
// dead-lettered. Dead letters (once OMEN_DLQ has stored them; a failed
// publish is warned about as such, naming the message, and is no dead
// letter), expired messages (below) and partly
// rejected messages (influx string fields aside) are logged at WARN at
// most once a minute per subject and reason: the first at once, with its
// sequence and error, then a summary of those that followed (their
// count, first sequence, last error), written every minute while they go
// on and when Run returns. A message whose
// samples and events are all too old (older than ingest.max_sample_age:
// a backlog read late) is not poison: it is terminated and counted in
// omen_nats_messages_total{outcome="expired"} and as too_old, not
// dead-lettered. Nor is a well-formed message of no sample or event (an
// empty JSON batch such as [] or {"samples":[]}, an empty or blank
// payload, comment or metadata lines only; see decode.Decoder.Decode):
// its empty batch is appended and it is acknowledged
// (omen_nats_messages_total{outcome="acked"}); it was dead-lettered as
// malformed.
//
// Before decoding, the consumer asks an Appender that is a SeenChecker
// (the daemon's) which of the fetched messages' (Source, Seq) it has
// stored already: those are acknowledged without being decoded
// (omen_nats_messages_total{outcome="duplicate"}), so a redelivery or a
// replay neither counts their samples again nor dead-letters messages
// whose samples have aged past ingest.max_sample_age since they were
// stored. A dead-lettered or expired message leaves an empty batch, a
// marker, in the store, so that it too is skipped on a replay instead of
// being dead-lettered again. The daemon's store keeps these records for
// the ingest log's retention (lookback + 1 h), then only a floor per
// source, the highest sequence it dropped, and skips every batch at or
// below it as a duplicate, stored or not (telemetry.SeenBelowFloor). A message
// below the floor published before the durable consumer was created is a replay by a
// recreated durable, acknowledged as a duplicate without being decoded;
// one published after it is a message this durable delivered before and
// never finished (a poison message whose dead letter kept failing while
// later messages were stored and aged out), and it is decoded and
// dead-lettered as usual. (It was acknowledged as a duplicate, lost
// without a dead letter.) A recreated durable skips a poison message the
// deleted one had not finished, too, once it lies below the floor. An
// Appender that is a StoredAppender tells
// which batches an Append stored, and only those are counted in
// omen_ingested_samples_total and omen_ingested_events_total.
//
// # Several omen replicas
//
// Two layouts work with one stream:
//
//   - Partitioned subjects (recommended). Producers publish to
//     omen.metrics.<format>.<partition> and omen.events.<format>.<partition>,
//     choosing the partition from the entity (e.g. hash(namespace/pod) mod
//     N), so that all data of an entity lands in one partition. Replica i
//     runs its own durable (Durable "omen-p<i>") with FilterSubjects
//     {"omen.*.*.<i>"} (its metrics and events), or {"omen.metrics.*.<i>",
//     "omen.events.*.<i>"}, or several partitions each. Each replica then
//     sees every sample of its entities, in order, which per-entity
//     windows and the LSTM state need. Moving a partition to another
//     replica is moving its durable name.
//
//     Both forms need nats-server 2.10 or later. nats-server 2.9 takes a
//     single filter subject, which must lie within one of the stream's
//     subjects: omen.metrics.*.<i> or omen.events.*.<i>, not omen.*.*.<i>
//     (refused: "not a valid subset of the interest subjects"). On 2.9,
//     create the stream OMEN yourself with the one subject omen.> (an
//     existing stream is left as configured) and a dead-letter subject
//     outside it (e.g. omen_dlq); the filter omen.*.*.<i> then works.
//     Several filter subjects are refused on 2.9 before any consumer is
//     created (2.9 would create one of the whole stream).
//
//     omen never deletes a durable. When one exists with other filter
//     subjects than configured, nats-server 2.10 and later update it in
//     place, with a WARN: the durable continues from its position in the
//     stream (the last message it delivered), so the new filter's
//     messages before it, normally all those published before the change,
//     are not read, and every replica sharing the durable consumes with
//     the new filter from then on. To read them, use a new durable name.
//     nats-server 2.9 accepts such an update but then delivers nothing,
//     so there omen refuses to start (*FilterConflictError), naming the
//     durable and both filters. Either give the replica another durable
//     name, or stop every omen using the durable and delete it (nats
//     consumer rm OMEN <durable>): the new durable reads every message of
//     its filter the stream retains again; those already stored are
//     skipped as duplicates, and so are, without being stored, those
//     older than the ingest log's retention (lookback + 1 h), which lie
//     below the store's deduplication floor. (Deleting it automatically
//     made two replicas of a rolling deploy with different filters delete
//     each other's durable in turn.)
//
//   - A shared durable (work queue). Replicas using the same Durable share
//     its messages: each message goes to one of them. This balances load
//     but scatters an entity's samples over replicas, so it is only correct
//     when every message carries whole entities and the feature store is
//     shared, or when each replica's subjects are themselves partitioned
//     as above.
//
// Dead letters from every replica land in the one OMEN_DLQ stream.
//
// When the durable consumer disappears while omen runs (deleted by an
// operator, lost by JetStream, or missing after a NATS server restart:
// a pull on a consumer that does not exist only misses its heartbeats, so
// missing heartbeats make the consumer ask the server whether its
// consumer and stream still exist), NATSConsumer recreates it with the same
// configuration (DeliverAll), logs it once at WARN and counts it in
// omen_nats_consumer_recreated_total{consumer}. Nothing is lost: messages
// published meanwhile stay in the stream and are delivered by the new
// consumer. The new consumer starts without ack state, so it also
// redelivers every retained message acknowledged before (up to the
// stream's MaxAge); these are skipped as duplicates by (Source, Seq)
// before they are decoded (with the daemon's store; see SeenChecker;
// those older than the ingest log's retention by its floor, above), so
// they only cost reading them again: none is dead-lettered as too_old, or
// dead-lettered again.
//
// When the stream itself disappears (deleted by an operator, or lost
// with JetStream's store), which takes its consumers with it,
// NATSConsumer creates it anew with its durable under the running
// consumer, as Setup does at a start, with a WARN, counted in
// omen_nats_consumer_recreated_total too: the new stream's creation time
// gives its batches a new Source (below), so the store does not take its
// messages, numbered from 1 again, for duplicates of the old stream's.
// Messages published while no stream existed were refused to their
// producers. (omen stopped with an error instead, exit 1, taking the
// remote-write receiver and the API down with it until a restart did the
// same.)
//
// NewNATSConsumer also takes a connection that has not reached its server
// yet (made with nats.RetryOnFailedConnect: the daemon's, when an external
// server did not answer at its start). Run then waits for it, without a
// log line per attempt (a WARN every 5 minutes; whoever made the
// connection reports the first failure, the daemon with one WARN) and
// returns promptly when its context is cancelled; once connected, it runs
// Setup (INFO "NATS reached"), retrying with backoff while Setup fails for
// a reason that passes (a timeout, no responders, the connection lost
// again, a JetStream cluster not yet available) and returning any other
// error, as a start with the server up would fail; a timeout behind which
// the server reported a permissions violation for the JetStream API
// ($JS.API.>) is such an error, on both paths. No responders (a server
// without JetStream) is the exception: it ends Run at a start with the
// server up, and is retried (a WARN a minute) on a late one. A
// connection closed before it connected (nats.go gives up on a server
// that refuses its credentials) ends Run with the error, and so does a
// server that answers but refuses the connection as configured (a tls://
// URL for a server without TLS, a failed TLS handshake, a client
// certificate refused or missing: the connection closed right after the
// handshake), which nats.go retries for ever. Meanwhile
// omen_nats_consumer_last_contact_timestamp_seconds stays at Run's start.
//
// # Batch source and stream identity
//
// The consumer's batches have Source
// "nats/<stream>/<durable>@<creation time of the stream>", e.g.
// "nats/OMEN/omen@2026-11-26T11:56:20.123456789Z", and Seq the stream
// sequence. A stream deleted and created again (by Setup, at a start or
// under a running consumer, or by an operator) numbers its messages from 1 again; its
// different creation time gives its batches a different Source, so the
// store does not skip them as duplicates of the old stream's messages
// with the same sequence numbers (before, it silently dropped every new
// message until the new sequence passed the old stream's highest). This
// is what makes creating a deleted stream anew under a running consumer
// safe.
// JetStream sets the creation time once and keeps it across server
// restarts and stream updates, and every replica of omen reads the same
// value from the server, so the Source of one stream is stable across
// restarts and replicas without omen keeping state of its own. Metrics
// and logs are labelled with "nats/<stream>/<durable>" alone, so label
// cardinality does not grow with new streams.
//
// Upgrading from a version that named the batches
// "nats/<stream>/<durable>" changes the Source of an unchanged stream.
// This re-ingests only what is delivered again after the upgrade and was
// already stored: with the durable consumer kept (it keeps its ack
// state), the messages whose ack was lost, normally none
// (TestNATSConsumerUpgradeNoReingest). The feature head drops duplicate
// samples and counts a re-sent event with a known UID once (within an
// hour); events without a UID would count twice. Only when the durable consumer is lost as well is the stream's
// retention (MaxAge) stored a second time, once. The alternative, keeping
// the old name and remembering the stream's creation time in the store,
// would need store state for every source and a Setup that reads it; the
// stateless name was preferred. A stream restored from a backup gets a
// new creation time and counts as a new stream in the same way.
//
// # Prometheus remote-write
//
// RemoteWriteReceiver implements remote-write 1.0 with its own zero-copy
// protobuf decoder (checked against prompb by a differential fuzz test),
// pooled buffers and a bounded cache of interned label sets. Status codes
// are listed on the type. Every float value is a sample, as in Prometheus:
// NaN (a summary quantile without observations) and ±Inf are stored, and a
// stale marker (value.StaleNaN) ends its series. It applies the NATS
// decoders' label limits and sample time window, and bounds the samples
// and series of a request, the requests in flight and the label cache's
// bytes (RemoteWriteOptions).
//
// # Metrics
//
// All sources share omen_ingested_samples_total{source},
// omen_ingested_events_total{source} and omen_ingest_errors_total{reason}
// (decoder reasons plus dead_letter, dead_letter_failed, append, invalid_labels, query,
// unsupported, too_large, undecodable) and
// omen_ingest_ignored_samples_total{source,kind} (what is left out by
// design, not an error: string_field, influx string fields from NATS;
// native_histogram, from remote-write); sources built with the same
// Registerer share these counters instead of failing to register them.
// Each source adds its own: omen_nats_messages_total{consumer,outcome},
// omen_remote_write_requests_total{code}, omen_prometheus_queries_total{kind,outcome}, ...
//
// # Tests
//
// Integration tests run against the Debian components (started by
// internal/testenv) as well as the embedded NATS server:
//
//	apt-get update && apt-get install -y prometheus prometheus-alertmanager nats-server
//	go test -count=1 ./stream ./stream/natsembed ./internal/testenv
//	OMEN_BENCH=1 go test -count=1 -run TestRemoteWriteThroughputVsPrometheus -v ./stream
//	go test -run '^$' -bench 'RemoteWrite|NATSIngest' ./stream
package stream
