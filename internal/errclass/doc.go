// Package errclass reduces an error message to its class: the text
// without the parts that change from one occurrence to the next while
// the cause stays the same. Logs that warn once per failure and then
// stay at debug level while it lasts compare classes, not messages;
// Tracker holds the state of such failures, by key, for the Prometheus
// poller's queries and the feature extractor's; Throttle, for failures
// retried at every attempt and logged at most once a minute whatever
// their class (the daemon's step operations).
package errclass
