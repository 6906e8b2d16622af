// Package registry manages the model registry in omen's store as the
// API's model endpoints do (api.ModelAdmin): it registers model files
// under versions, promotes, rolls back and deletes them. The daemon's
// registry (package app) checks models against the features in use and
// puts a promotion in use through its Daemon; offline (New: omen model
// and omen train without --url) models are checked only to decode.
package registry
