//go:build soakbug_ignorepending

package soakbug

// IgnorePending, when true, makes listeners reject the pending key (build tag soakbug_ignorepending).
const IgnorePending = true
