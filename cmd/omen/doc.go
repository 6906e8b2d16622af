// Command omen predicts module-load failures in cloud-native fleets before
// they happen and explains each prediction.
//
// Usage:
//
//	omen run [flags]               the daemon
//	omen demo [flags]              embedded NATS, simulated fleet, the daemon
//	omen check config FILE...      validate configuration files (--remote-write-keep:
//	                               and print the features' metrics as a remote-write keep-list)
//	omen train [flags]             train a model
//	omen eval smd|asd|rca|sim      evaluate on public data or the simulator
//	omen explain ENTITY|ALERT|PREDICTION|URL
//	                               print a ranked explanation
//	omen model list|add|promote|rollback|delete
//	omen store verify [flags]      check the store for damage
//	omen store backup|restore      back up the store (a running daemon's too), restore a backup
//	omen bench ingest|lstm|explain benchmarks printing JSON
//	omen version
package main
