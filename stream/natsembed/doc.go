// Package natsembed runs a NATS server with JetStream inside the omen
// process, for the single-binary demo and for tests. Production fleets
// point omen at a real NATS cluster instead; the consumer in package
// stream works the same against both.
package natsembed
