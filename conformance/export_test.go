package conformance

// The demo values the built-in scripts use, for the test that they are
// the demo world's.
const (
	DemoUser  = demoUser
	DemoShow  = demoShow
	DemoToken = demoToken
)
