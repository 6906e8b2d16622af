// Command evalrun runs training.EvalDataset from the command line for
// development measurements (the product command is `omen eval`).
package main
