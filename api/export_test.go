package api

import "crypto/ed25519"

// IssuerKey exposes an issuer's private key to the tests, which forge
// tokens with it.
func IssuerKey(is *Issuer) ed25519.PrivateKey { return is.key }
