package rollout

// Backoff is backoff, for the tests of package rollout_test.
var Backoff = backoff
