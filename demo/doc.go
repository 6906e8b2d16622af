// Package demo wires the simulated fleet (package sim), the embedded NATS
// server and the daemon (package app) into "omen demo" and "omen eval sim".
//
// The demo publishes hours of simulated history through NATS as fast as
// omen ingests it, trains the LSTM on the feature vectors omen stored
// (failure labels shifted by the horizon, so it learns precursors), promotes
// the model, and then runs the fleet faster than real time while omen
// scores every pod at every step and prints alerts as they fire, with their
// top causes and — from the simulator's ground truth — how far ahead of the
// failure they came, and a line when they escalate to critical and when
// they resolve.
package demo
