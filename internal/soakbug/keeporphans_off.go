//go:build !soakbug_keeporphans

package soakbug

// KeepOrphans, when true, makes API-key rotations leave orphans active: no run revokes a
// key keyroll created that the document does not hold (build tag soakbug_keeporphans).
const KeepOrphans = false
