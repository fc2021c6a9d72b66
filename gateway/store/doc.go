// Package store persists the local gateway's registry: deployed functions
// (their OpenFaaS deployment and replica count) and the map from image names
// to the binaries built for them. It is one JSON file, rewritten atomically
// on every change, so a restarted gateway finds its functions again.
package store
